import itertools
import json
import sys
import types

import numpy as np
import polars as pl
import pytest

from econalign.applications.av import (
    HUMAN_BENCHMARK,
    AVScenario,
    av_scenarios,
    score_av,
    swerve_by_cell,
    theory_action,
)
from econalign.applications.av_prompts import FRAMINGS, PARAPHRASES, render_av_prompt
from econalign.config import validate_config
from econalign.data.templates import decision_line
from econalign.stats import wilson_interval
from econalign.theory.games import AVDilemma
from econalign.theory.preferences import HomoEconomicus, HomoMoralis

from .fakes import KantianAgent, LetterBiasAgent

AV = validate_config({})["av"]
MARGIN = validate_config({})["data"]["tie_margin"]


def test_scenarios_are_the_full_factorial_with_unique_ids():
    scenarios = av_scenarios(AV)
    expected = len(AV["n_pedestrians"]) * len(AV["n_passengers"]) * len(AV["framings"]) * AV["paraphrases"] * 2
    assert len(scenarios) == expected
    assert len({s.id for s in scenarios}) == expected
    assert {s.swerve_label for s in scenarios} == {"A", "B"}
    assert av_scenarios({**AV, "swap_labels": False})[0].swerve_label == "B"


@pytest.mark.parametrize("kappa", [0.0, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_theory_predictions_follow_the_closed_form(kappa):
    # SCIENCE.md: u(swerve) - u(stay) = kappa n - k, so moralis swerves iff kappa n > k; an exact tie has no answer.
    for n, k in itertools.product([1, 2, 3, 5, 10], [1, 2, 3]):
        scenario = AVScenario("x", n, k, "owner", 0, "B")
        assert theory_action(scenario, HomoEconomicus(), min_margin=MARGIN) == "stay"
        expected = None if np.isclose(kappa * n, k) else ("swerve" if kappa * n > k else "stay")
        assert theory_action(scenario, HomoMoralis(kappa=kappa), min_margin=MARGIN) == expected


@pytest.mark.parametrize("margin", [0.1, 0.2])
def test_a_configured_tie_margin_reaches_the_av_predictions(margin):
    # data.tie_margin is the one tie rule: near kappa n = k the moralis answer is withheld, as in the game battery.
    withheld = 0
    for n, k in itertools.product([1, 2, 3, 5, 10], [1, 2, 3]):
        scenario = AVScenario("x", n, k, "owner", 0, "B")
        gap = 0.5 * n - k  # SCIENCE.md: u(swerve) - u(stay) = kappa n - k
        size = AVDilemma(n_pedestrians=n, n_passengers=k).payoff_range
        expected = None if abs(gap) < margin * size else ("swerve" if gap > 0 else "stay")
        assert theory_action(scenario, HomoMoralis(kappa=0.5), min_margin=margin) == expected
        withheld += expected is None and not np.isclose(gap, 0.0)
    assert withheld > 0  # the margin did withhold answers that the default margin gives


@pytest.mark.parametrize(
    ("framing", "paraphrase", "swerve_label"), list(itertools.product(FRAMINGS, range(len(PARAPHRASES)), "AB"))
)
def test_prompt_options_and_continuations(framing, paraphrase, swerve_label):
    prompt = render_av_prompt(
        n_pedestrians=5, n_passengers=2, framing=framing, paraphrase=paraphrase, swerve_label=swerve_label
    )
    assert [o["label"] for o in prompt.options] == ["A", "B"]
    assert prompt.action_labels()["swerve"] == swerve_label
    assert prompt.continuations == [decision_line("A"), decision_line("B")]
    text = prompt.messages[-1]["content"]
    swerve_line = next(line for line in text.splitlines() if line.startswith(f"{swerve_label}: "))
    assert "2 passengers" in swerve_line and "pedestrian" not in swerve_line
    assert "5 pedestrians" in text


def test_prompt_grammar_in_the_singular():
    text = render_av_prompt(n_pedestrians=1, n_passengers=1, framing="owner", paraphrase=1).messages[-1]["content"]
    assert "1 pedestrian steps" in text and "1 passenger inside is killed" in text and "1 pedestrians" not in text


def test_letter_biased_agent_swerves_exactly_when_swerve_is_A():
    scenarios = av_scenarios(AV)
    agent = LetterBiasAgent(p_a=0.8)
    scores = score_av(
        agent, scenarios, agent="base", preference=None, reference_kappa=0.5, min_margin=MARGIN, batch_size=50
    )
    assert scores.height == len(scenarios)
    assert agent.calls == [50] * (len(scenarios) // 50) + ([len(scenarios) % 50] if len(scenarios) % 50 else [])
    expected = np.where(scores["swerve_label"].to_numpy() == "A", 0.8, 0.2)
    np.testing.assert_allclose(scores["p_swerve"].to_numpy(), expected)
    assert ((scores["choice"] == "swerve") == (scores["swerve_label"] == "A")).all()
    assert scores["predicted_action"].is_null().all()
    assert (scores["economicus_action"] == "stay").all()
    assert json.loads(scores["options"][0])[0]["label"] == "A"


def test_kantian_agent_agrees_with_its_theory_and_cells_carry_wilson_intervals():
    scenarios = av_scenarios(AV)
    scores = score_av(
        KantianAgent(kappa=0.5),
        scenarios,
        agent="moralis",
        preference=HomoMoralis(kappa=0.5),
        reference_kappa=0.5,
        min_margin=MARGIN,
        batch_size=64,
    )
    posed = scores.filter(pl.col("predicted_action").is_not_null())
    assert (posed["choice"] == posed["predicted_action"]).all()
    cells = swerve_by_cell(scores)
    assert cells.height == len(AV["n_pedestrians"]) * len(AV["n_passengers"])
    for row in cells.iter_rows(named=True):
        part = scores.filter(
            (pl.col("n_pedestrians") == row["n_pedestrians"]) & (pl.col("n_passengers") == row["n_passengers"])
        )
        swerves = int((part["choice"] == "swerve").sum())
        assert (row["items"], row["swerves"]) == (part.height, swerves)
        # Each framing is one decision problem, posed under both letter orders; the agent reads only the numbers,
        # so every problem's copies agree and the clustered interval is that of one answer per problem: the
        # Wilson interval on G - 1 trials for G problems (the CR1 factor), or on G where the share is 0 or 1.
        problems = len(AV["framings"])
        assert part.height == 2 * problems
        share = swerves / part.height
        trials = problems if share in (0.0, 1.0) else problems - 1
        expected = wilson_interval(share * trials, trials)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((expected["low"], expected["high"]))
        assert row["mean_p_swerve"] == pytest.approx(part["p_swerve"].mean())


def test_human_benchmark_is_a_posed_cell():
    assert HUMAN_BENCHMARK.framing in FRAMINGS
    assert HUMAN_BENCHMARK.n_pedestrians in AV["n_pedestrians"] and HUMAN_BENCHMARK.n_passengers in AV["n_passengers"]
    assert "Bonnefon" in HUMAN_BENCHMARK.citation


def test_cli_scores_an_agent(tmp_path, monkeypatch, capsys):
    from econalign.cli import main

    fake = types.ModuleType("econalign.model.agent")
    fake.load_agent = lambda model_dir, adapter=None, **options: KantianAgent(kappa=0.5)
    monkeypatch.setitem(sys.modules, "econalign.model.agent", fake)
    config = json.dumps(
        {"av": {"n_pedestrians": [1, 10], "n_passengers": [1], "framings": ["moral"], "paraphrases": 1}}
    )
    out = tmp_path / "av" / "moralis.parquet"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    assert (
        main(
            [
                "av",
                "--config-json",
                config,
                "--agent",
                "moralis",
                "--model",
                str(tmp_path),
                "--adapter",
                str(adapter),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    scores = pl.read_parquet(out)
    assert scores.height == 4
    assert set(scores["predicted_action"]) == {"stay", "swerve"}
    provenance = json.loads((tmp_path / "av" / "moralis.provenance.json").read_text())
    assert provenance["agent"] == "moralis" and provenance["model_sha256"] == "0" * 64
    capsys.readouterr()
    # The same usage error as evaluate's: one line, status 2.
    assert main(["av", "--config-json", config, "--agent", "moralis", "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "econalign av: agent 'moralis' needs --adapter exactly when it is not 'base'" in capsys.readouterr().err


def test_cli_provenance_names_the_adapter_and_its_hash(tmp_path, monkeypatch):
    from econalign.cli import main
    from econalign.io import adapter_hash

    fake = types.ModuleType("econalign.model.agent")
    fake.load_agent = lambda model_dir, adapter=None, **options: KantianAgent(kappa=0.5)
    monkeypatch.setitem(sys.modules, "econalign.model.agent", fake)
    config = json.dumps({"av": {"n_pedestrians": [1], "n_passengers": [1], "framings": ["moral"], "paraphrases": 1}})
    adapter = tmp_path / "finetune" / "moralis" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"moralis weights")
    (adapter / ".snakemake_timestamp").touch()
    common = ["av", "--config-json", config, "--model", str(tmp_path)]
    out = tmp_path / "av" / "moralis.parquet"
    assert main([*common, "--agent", "moralis", "--adapter", str(adapter), "--out", str(out)]) == 0
    record = json.loads((tmp_path / "av" / "moralis.provenance.json").read_text())
    assert record["adapter"] == adapter.as_posix()
    assert record["adapter_hash"] == adapter_hash(adapter) and len(record["adapter_hash"]) == 64
    first = (tmp_path / "av" / "moralis.provenance.json").read_bytes()
    assert main([*common, "--agent", "moralis", "--adapter", str(adapter), "--out", str(out)]) == 0
    assert (tmp_path / "av" / "moralis.provenance.json").read_bytes() == first  # byte-identical re-run
    assert main([*common, "--agent", "base", "--out", str(tmp_path / "av" / "base.parquet")]) == 0
    record = json.loads((tmp_path / "av" / "base.provenance.json").read_text())
    assert record["adapter"] is None and record["adapter_hash"] == "none"
