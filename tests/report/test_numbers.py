import json

import pytest

from econalign.report.numbers import collect_numbers, flatten, format_value, latex_escape, macro_name, numbers_tex


def test_flatten_nests_paths_drops_none_and_joins_scalar_lists():
    flat = flatten({"b": {"x": 1, "none": None}, "a": [0.5, 2], "rows": [{"k": 3}]}, "m")
    assert flat == {"m/a": "0.5, 2", "m/b/x": 1, "m/rows/0/k": 3}


@pytest.mark.parametrize(
    ("path", "macro"),
    [
        ("evaluate/moralis/agreement", "EAEvaluateMoralisAgreement"),
        ("evaluate/moralis_k25/rate", "EAEvaluateMoralisKTwoFiveRate"),
        (
            "applications/pricing/findings/self_play/moralis/3.2/profit_gain",
            "EAApplicationsPricingFindingsSelfPlayMoralisThreeTwoProfitGain",
        ),
    ],
)
def test_macro_names_hold_letters_only(path, macro):
    assert macro_name(path) == macro
    assert macro_name(path).isalpha()


def test_format_value_rounds_floats_only():
    assert format_value(0.125, decimals=2) == "0.12"  # round-half-even of the binary value, as printf does
    assert format_value(2 / 3, decimals=3) == "0.667"
    assert format_value(7) == "7"
    assert format_value(False) == "no"
    assert format_value(float("nan")) == "n/a"
    assert format_value(-0.0001, decimals=2) == "0.00"


def test_latex_escape_protects_specials():
    assert latex_escape("a_b & 5% #1") == r"a\_b \& 5\% \#1"


def test_numbers_tex_defines_each_number_and_marks_missing_ones():
    text = numbers_tex(
        {"evaluate/base/rate": 0.4567, "config/seed": 3}, decimals=3, required=["EAEvaluateBaseRate", "EANope"]
    )
    assert r"\newcommand{\EAEvaluateBaseRate}{0.457}" in text
    assert r"\newcommand{\EAConfigSeed}{3}" in text
    assert r"\newcommand{\EANope}{\textbf{[missing]}}" in text
    assert r"\newcommand{\EAConfigSeed}{\textbf" not in text


def test_numbers_tex_keeps_the_first_of_two_paths_with_one_macro():
    text = numbers_tex({"a/b_c": 1, "a/bC": 2})
    assert text.count(r"\newcommand{\EAABC}") == 1
    assert r"\newcommand{\EAABC}{1}" in text
    assert "a/bC: not defined" in text


def test_collect_numbers_reads_every_source_and_skips_timings(fixture_results, paper_config):
    numbers = collect_numbers(fixture_results, config=paper_config, agents=["base", "economicus", "moralis"])
    assert numbers["evaluate/moralis/agreement/all/own/all/choice/estimate"] == 0.88
    assert numbers["finetune/moralis/final/loss"] == 0.5
    assert numbers["finetune/moralis/final/val_accuracy"] == 0.75  # last non-null value
    assert numbers["applications/pricing/findings/self_play/moralis/1/profit_gain"] == 0.734
    assert numbers["config/seed"] == paper_config["seed"]
    assert numbers["agents/moralis/kappa"] == "0.5"  # settings as written, not rounded
    assert numbers["config/finetune/learning_rate"] == f"{paper_config['finetune']['learning_rate']:g}"
    assert numbers["benchmarks/prisoners_dilemma/cooperation_level/humans"] == pytest.approx(0.37)
    assert "finetune/moralis/final/tokens_per_s" not in numbers
    assert "evaluate/moralis/scoring_seconds" not in numbers
    assert "config/evaluate/max_items_per_split" in numbers  # a count, not a timing
    assert list(numbers) == sorted(numbers)


def test_small_settings_are_not_rounded_to_zero(tmp_path):
    config = {"seed": 3, "finetune": {"learning_rate": 5e-4, "adam_eps": 1e-8, "epochs": 1}, "agents": []}
    numbers = collect_numbers(tmp_path, config=config)
    assert numbers["config/finetune/learning_rate"] == "0.0005"
    assert numbers["config/finetune/adam_eps"] == "1e-08"
    assert numbers["config/finetune/epochs"] == 1
    assert r"\newcommand{\EAConfigFinetuneLearningRate}{0.0005}" in numbers_tex(numbers)


@pytest.mark.parametrize(("confidence", "macro"), [(0.95, r"95\%"), (0.9, r"90\%"), (0.975, r"97.5\%")])
def test_coverage_is_quoted_as_the_captions_print_it(tmp_path, confidence, macro):
    numbers = collect_numbers(tmp_path, config={"seed": 3, "evaluate": {"confidence": confidence}, "agents": []})
    assert numbers["config/evaluate/confidence"] == f"{confidence:g}"
    assert rf"\newcommand{{\EACoverage}}{{{macro}}}" in numbers_tex(numbers)
    assert "coverage" not in collect_numbers(tmp_path, config={"seed": 3, "agents": []})


def test_collect_numbers_tolerates_missing_stages(tmp_path):
    (tmp_path / "evaluate" / "base").mkdir(parents=True)
    (tmp_path / "evaluate" / "base" / "metrics.json").write_text(json.dumps({"rate": 0.5}))
    numbers = collect_numbers(tmp_path)
    assert numbers["evaluate/base/rate"] == 0.5
    assert not any(path.startswith(("applications/", "finetune/")) for path in numbers)
