import copy
import json

import pytest
import yaml

from econalign.config import ConfigError, kappa_agent_name, load_config, load_schema, validate_config


def _walk_properties(schema, path=""):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _walk_properties(sub, f"{path}{name}/")


def test_defaults_fill_an_empty_config():
    config = validate_config({})
    assert config["seed"] == 0
    assert config["model"]["spec"] == "smollm2-135m-instruct"
    assert [a["name"] for a in config["agents"]] == ["economicus", "moralis"]


def test_every_schema_property_is_documented():
    undocumented = [path for path, sub in _walk_properties(load_schema()) if "description" not in sub]
    assert undocumented == []


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"sede": 1}, "(top level)"),
        ({"seed": -3}, "seed"),
        ({"model": {"dtype": "float8"}}, "model/dtype"),
        ({"agents": [{"name": "x", "preference": "moralis", "kappa": 2}]}, "agents/0/kappa"),
        ({"agents": [{"name": "Bad Name", "preference": "economicus"}]}, "agents/0/name"),
    ],
)
def test_bad_values_name_the_key(bad, key):
    with pytest.raises(ConfigError) as info:
        validate_config(bad)
    assert f"  {key}:" in str(info.value)


def test_unknown_nested_key_is_named():
    with pytest.raises(ConfigError, match="modle"):
        validate_config({"model": {"modle": "x"}})


def test_duplicate_and_reserved_agent_names():
    agent = {"name": "a", "preference": "economicus"}
    with pytest.raises(ConfigError, match="duplicate"):
        validate_config({"agents": [agent, agent]})
    with pytest.raises(ConfigError, match="reserved"):
        validate_config({"agents": [{"name": "base", "preference": "economicus"}]})


def test_kappa_must_be_stated_for_moralis_and_absent_for_economicus():
    with pytest.raises(ConfigError, match="agents/0/kappa: a moralis agent needs its kappa"):
        validate_config({"agents": [{"name": "m", "preference": "moralis"}]})
    with pytest.raises(ConfigError, match=r"agents/1/kappa: 0\.3 given to an economicus agent"):
        validate_config(
            {
                "agents": [
                    {"name": "m", "preference": "moralis", "kappa": 0},
                    {"name": "e", "preference": "economicus", "kappa": 0.3},
                ]
            }
        )
    agents = validate_config({"agents": [{"name": "e", "preference": "economicus", "kappa": 0.0}]})["agents"]
    assert agents == [{"name": "e", "preference": "economicus", "kappa": 0.0}]


def test_a_tie_margin_of_zero_is_refused():
    # A zero margin would let exact ties through, which have no answer.
    with pytest.raises(ConfigError, match="data/tie_margin"):
        validate_config({"data": {"tie_margin": 0}})


def test_kappa_grid_expands_to_moralis_agents():
    config = validate_config({"kappa_grid": [0.25, 0.5]})
    extra = {a["name"]: a["kappa"] for a in config["agents"] if a["name"].startswith("moralis_k")}
    assert extra == {kappa_agent_name(0.25): 0.25, kappa_agent_name(0.5): 0.5}


@pytest.mark.parametrize("name", ["moralis__nash", "moralis_", "Moralis", "_x"])
def test_agent_names_that_would_break_paths_or_pairings_are_refused(name):
    with pytest.raises(ConfigError, match="agents/0/name"):
        validate_config({"agents": [{"name": name, "preference": "economicus"}]})


def test_kappa_grid_values_that_share_a_name_are_refused():
    with pytest.raises(
        ConfigError, match=r"kappa_grid: 0\.0 would be agent 'moralis_k0', which already is moralis with kappa 0\.004"
    ):
        validate_config({"kappa_grid": [0.004, 0.0]})
    economicus_named_like_the_grid = {"name": "moralis_k50", "preference": "economicus"}
    with pytest.raises(ConfigError, match="already is economicus"):
        validate_config({"agents": [economicus_named_like_the_grid], "kappa_grid": [0.5]})
    same = validate_config(
        {"agents": [{"name": "moralis_k50", "preference": "moralis", "kappa": 0.5}], "kappa_grid": [0.5]}
    )
    assert [agent["name"] for agent in same["agents"]] == ["moralis_k50"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"finetune": {"batch_size": 8, "grad_accum": 3}},
            "finetune/grad_accum: 3 does not divide finetune/batch_size 8",
        ),
        (
            {"finetune": {"batch_size": 8, "grad_accum": 2, "mesh": {"data": 3}}},
            r"finetune/mesh: 3 devices do not split a microbatch of 4 rows \(finetune/batch_size / finetune/grad_",
        ),
        (
            {"data": {"reasoning_first": True}, "finetune": {"max_target_tokens": 3}},
            "finetune/max_target_tokens: cuts a target from its end, where data/reasoning_first puts the decision line",
        ),
        (
            {"pricing": {"alphas": [1.0, 0.2]}},
            r"pricing/alphas: a grid of 15 prices at alpha=0.2 is not distinct at the cent",
        ),
        (
            {"pricing": {"market": {"a": -5}}},
            r"pricing/market: the Nash and monopoly prices nearly coincide \(1.2500, 1.2500 at pricing/alphas 1.0\)",
        ),
        (
            {"pricing": {"market": {"a": 100, "a0": -100, "mu": 0.01}}},
            r"pricing/market: expected one symmetric equilibrium price in \(1.0, 200.1\), found \[\]",
        ),
        (
            {"data": {"payoff_min": 5, "payoff_max": 6}},
            r"data/payoff_max: 6 must exceed data/payoff_min \(5\) by at least 3",
        ),
        ({"data": {"payoff_min": 5, "payoff_max": 9, "test_payoff_max": 7}}, "data/test_payoff_max: 7 must exceed"),
        (
            {"data": {"payoff_min": -100, "payoff_max": 100, "test_payoff_max": -40}},
            r"data/payoff_max: 100 exceeds data/payoff_min \(-100\) by more than 50 \(the synthesis enumerates",
        ),
        ({"data": {"payoff_max": 10, "test_payoff_max": 51}}, r"data/test_payoff_max: 51 exceeds data/payoff_min"),
        (
            {"data": {"families_test": ["chicken", "trust"]}},
            r"data/families_test: must not overlap data/families_train, both list \['chicken'\]",
        ),
        ({"data": {"label_sets": ["ABCA"]}}, "data/label_sets: label set 'ABCA' repeats a letter"),
        (
            {"data": {"label_sets_unseen": ["PQRS", "ABXY"]}},
            "data/label_sets_unseen: 'ABXY' labels two-option items A, B as the training set 'ABCD' does",
        ),
        ({"data": {"label_sets": ["ABCD", "BAXY"]}}, "data/label_sets: 'BAXY' trains the swapped order B, A of 'ABCD'"),
        (
            {"agents": [{"name": "nash", "preference": "economicus"}]},
            r"agents: names \['nash'\] are also pricing/reference_opponents",
        ),
        (
            {"report": {"temptation_bin": 3}},
            r"report: Additional properties are not allowed \('temptation_bin' was unexpected\)",
        ),
    ],
)
def test_relations_between_keys_fail_at_validation_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(overrides)


def test_all_relation_errors_are_reported_together():
    with pytest.raises(ConfigError) as error:
        validate_config({"finetune": {"grad_accum": 3}, "data": {"payoff_min": 8}})
    lines = str(error.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "data/payoff_max",
        "data/test_payoff_max",
        "finetune/grad_accum",
    ]


def test_validation_does_not_mutate_input_and_is_idempotent():
    raw = {"kappa_grid": [0.75]}
    before = copy.deepcopy(raw)
    once = validate_config(raw)
    assert raw == before
    assert validate_config(once) == once


def test_load_config_reads_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"seed": 7}))
    assert load_config(path)["seed"] == 7
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/embedded-gpu.yaml", "config/paper-scale.yaml", ".test/config.yaml"]
)
def test_shipped_configs_are_valid(name, repo_root):
    load_config(repo_root / name)


def test_paper_scale_trains_in_bfloat16_when_snakemake_merges_it_over_the_default_study(repo_root):
    # The Snakefile's configfile is config/config.yaml; --configfile overlays it, keeping its CPU training dtype.
    from snakemake.utils import update_config

    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    update_config(config, yaml.safe_load((repo_root / "config/paper-scale.yaml").read_text()))
    resolved = validate_config(config)
    assert resolved["model"]["dtype"] == resolved["finetune"]["dtype"] == "bfloat16"
    assert resolved == load_config(repo_root / "config/paper-scale.yaml")  # the same study as the file alone


def test_embedded_gpu_config_is_the_lever_study_setting(repo_root):
    """config/embedded-gpu.yaml trains what the study's row measured (checkpoint frequency changes no weight)."""
    shipped = yaml.safe_load((repo_root / "config/embedded-gpu.yaml").read_text())
    grid = yaml.safe_load((repo_root / "benchmarks/levers.yaml").read_text())
    (row,) = [setting for setting in grid if setting["name"] == "decision_only_n1920_full_3ep"]
    assert shipped["finetune"].pop("checkpoint_every") > 0
    # Evaluation changes no weight: the recipe scores every item of larger test splits (the training items stay the
    # same: tests/data), the default study 60 of 150 per split.
    assert shipped.pop("evaluate") == {"max_items_per_split": 0}
    assert shipped["data"].pop("n_test") == 600
    assert shipped == row["overrides"]
    # ... and what the stored GPU rows of that setting (the numbers docs/finetuning.md quotes) were run with.
    measured = json.loads((repo_root / "benchmarks/results/levers_gpu.json").read_text())["rows"]
    rows = [r for r in measured if r["setting"] == "decision_only_n1920_full_3ep"]
    assert {r["agent"] for r in rows} == {"economicus", "moralis"}
    assert all(r["overrides"] == shipped for r in rows)
    resolved = load_config(repo_root / "config/embedded-gpu.yaml")
    default = load_config(repo_root / "config/config.yaml")
    assert resolved["model"] == default["model"] and resolved["agents"] == default["agents"]
    assert resolved["evaluate"] == default["evaluate"] | {"max_items_per_split": 0}


def test_hosted_names_must_not_repeat_or_collide_with_agents():
    hosted = {"name": "gpt4o", "model": "gpt-4o-2024-08-06"}
    assert [h["name"] for h in validate_config({"hosted": [hosted]})["hosted"]] == ["gpt4o"]
    with pytest.raises(ConfigError, match="duplicate names"):
        validate_config({"hosted": [hosted, hosted]})
    for name in ("base", "moralis"):
        with pytest.raises(ConfigError, match="already used by local agents"):
            validate_config({"hosted": [{**hosted, "name": name}]})


def test_problems_between_keys_are_reported_together():
    # One run of the validator names every relation and name problem, so a user fixes them in one pass.
    agent = {"name": "a", "preference": "economicus"}
    config = {
        "agents": [agent, agent],
        "hosted": [{"name": "base", "model": "gpt-4o-2024-08-06"}],
        "finetune": {"batch_size": 8, "grad_accum": 3},
    }
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    lines = str(info.value).splitlines()[1:]
    assert any(line.startswith("  finetune/grad_accum: 3 does not divide") for line in lines)
    assert "  agents: duplicate agent names ['a']" in lines
    assert "  hosted: names ['base'] are already used by local agents" in lines


def test_load_schema_returns_an_independent_copy():
    schema = load_schema()
    schema["properties"]["seed"]["default"] = 99
    assert load_schema()["properties"]["seed"]["default"] == 0
    assert validate_config({})["seed"] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "finetune:\n  lora:\n    rnak: 3\n",
            "finetune/lora: Additional properties are not allowed ('rnak' was unexpected)",
        ),
        ("a: [\n", "while parsing"),
        (None, "No such file or directory"),
    ],
)
def test_cli_reports_a_bad_config_file_without_a_traceback(tmp_path, capsys, content, message):
    from econalign.cli import main

    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["synthesize", "--config", str(path), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("econalign synthesize: ") and message in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()


def test_cli_reports_bad_config_json(tmp_path, capsys):
    from econalign.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["synthesize", "--config-json", "{bad", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "--config-json is not valid JSON" in capsys.readouterr().err
    for not_a_mapping in ("[1]", "3", "null"):
        with pytest.raises(SystemExit) as exit_info:
            main(["synthesize", "--config-json", not_a_mapping, "--out", str(tmp_path)])
        assert exit_info.value.code == 2 and "expected a mapping of keys" in capsys.readouterr().err


def test_schema_enums_list_exactly_what_the_code_implements():
    """Each `enum` of the schema has a twin in the code that implements it; the two must not drift apart."""
    from econalign.applications.av_prompts import FRAMINGS
    from econalign.applications.pricing_agents import REFERENCE_PRICERS
    from econalign.applications.pricing_prompts import LABEL_ORDERS
    from econalign.data.reasoning import NUMBER_STYLES
    from econalign.data.synthesize import TEST_SPLITS
    from econalign.evaluate.scoring import MODES
    from econalign.model.llama import PROJECTIONS, LlamaConfig
    from econalign.theory import games

    properties = load_schema()["properties"]

    def enum(*path):
        node = properties
        for key in path[:-1]:
            node = node[key]["properties"]
        node = node[path[-1]]
        return (node.get("items") or node)["enum"]

    families = {name for name in games.GAMES if name not in ("symmetric_2x2", "av_dilemma")}
    assert set(enum("data", "families_train")) == families
    assert enum("data", "reasoning_numbers") == list(NUMBER_STYLES)
    assert enum("finetune", "lora", "targets") == list(PROJECTIONS)
    assert set(enum("evaluate", "mode")) <= set(MODES)  # "sampled" is the hosted models' own mode
    assert enum("evaluate", "splits") == list(TEST_SPLITS)
    assert enum("av", "framings") == list(FRAMINGS)
    assert enum("pricing", "label_order") == list(LABEL_ORDERS)
    assert enum("pricing", "reference_opponents") == list(REFERENCE_PRICERS)
    assert enum("finetune", "dtype") == [None, *enum("model", "dtype")]
    for dtype in enum("model", "dtype"):
        assert LlamaConfig(1, 8, 4, 8, 2, 1, 2, dtype=dtype).dtype == dtype  # each one is a model precision


def test_an_unquoted_yaml_off_gets_a_hint(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("report:\n  latex: off\n")
    with pytest.raises(ConfigError, match=r"report/latex: False is not of type 'string' \(YAML reads an unquoted"):
        load_config(path)


def test_the_tie_rule_default_is_the_theory_s_margin():
    # The schema cannot import the constant; this keeps the two spellings of SCIENCE.md's tie rule equal (the
    # theory's functions default to MIN_MARGIN, every stage passes data.tie_margin).
    from econalign.theory import MIN_MARGIN

    assert validate_config({})["data"]["tie_margin"] == MIN_MARGIN


def test_a_base_url_with_credentials_is_refused_without_repeating_them():
    secret = "pw-0123456789-secret"
    entry = {"name": "gpt", "model": "gpt-4o", "base_url": f"https://alice:{secret}@api.example.com/v1"}
    with pytest.raises(ConfigError, match="hosted/0/base_url: a user name or password") as error:
        validate_config({"hosted": [entry]})
    assert secret not in str(error.value) and "alice" not in str(error.value)
    validate_config({"hosted": [{**entry, "base_url": "https://api.example.com/v1?who=a@b"}]})  # '@' elsewhere is fine
