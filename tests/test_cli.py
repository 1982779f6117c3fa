"""The command line reports a user's mistake (a wrong name, folder or flag) as one line naming it, with no traceback."""

import json

import pytest

from econalign.cli import main

CONFIG = json.dumps({"seed": 0})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synthesize", "--agent", "nobody", "--out", "{tmp}/s"], "unknown agent 'nobody'; the config defines"),
        (
            ["synthesize", "--splits", "tests", "--out", "{tmp}/s"],
            "economicus/train.parquet is missing: write economicus's training splits first",
        ),
        (
            ["evaluate", "--agent", "nobody", "--model", "m", "--adapter", "a", "--data", "{tmp}", "--out", "{tmp}/e"],
            "unknown agent 'nobody'",
        ),
        (
            ["finetune", "--agent", "economicus", "--model", "m", "--data", "{tmp}", "--out", "{tmp}/f"],
            "holds no train.parquet: the data folder is the agent's own (results/synthesize/economicus)",
        ),
        (["pricing", "--pairing", "moralis", "--out", "{tmp}/p.parquet"], "is not of the form 'firm1__firm2'"),
        (["export-openai", "--data", "{tmp}", "--out", "{tmp}/x"], "train.parquet does not exist"),
        (
            ["report-games", "--evaluations", "{tmp}", "--out", "{tmp}", "--index"],
            "write the tables first (report-games without --index)",
        ),
        # Missing stage inputs name the folder or file and the rule that makes it (they were tracebacks).
        (
            ["report-games", "--evaluations", "{tmp}/nonexist", "--out", "{tmp}/r"],
            "nonexist does not exist: run the evaluate rule first (econalign evaluate)",
        ),
        (
            ["report-games", "--evaluations", "{tmp}", "--out", "{tmp}/r", "--tables", "agreement"],
            "holds the results of none of base, economicus, moralis (AGENT/metrics.json): run the evaluate rule",
        ),
        (
            ["report-games", "--evaluations", "{tmp}", "--references", "{tmp}/ref", "--out", "{tmp}/r", "--summary"],
            "ref/metrics.json does not exist: run the evaluate_reference rule first (econalign evaluate --references)",
        ),
        (
            ["report-games", "--evaluations", "{tmp}", "--out", "{tmp}/r", "--tables", "nope"],
            "unknown tables or figures ['nope']",
        ),
        (
            ["report-applications", "--av", "{tmp}/nonexist", "--pricing", "{tmp}/p", "--out", "{tmp}/o"],
            "nonexist does not exist: run the av rule first (econalign av --agent AGENT)",
        ),
        (
            ["report-applications", "--av", "{tmp}", "--pricing", "{tmp}/p", "--out", "{tmp}/o"],
            "lacks base.parquet, economicus.parquet, moralis.parquet: run the av rule first",
        ),
        # Usage errors exit 2 in every stage, as evaluate's (they exited 1 through SystemExit).
        (
            ["av", "--agent", "moralis", "--model", "{tmp}", "--out", "{tmp}/a.parquet"],
            "agent 'moralis' needs --adapter exactly when it is not 'base'",
        ),
        (["pricing", "--pairing", "base__nash", "--out", "{tmp}/p.parquet"], "firm 'base' is a language model agent"),
        (
            ["pricing", "--pairing", "economicus__nash", "--model", "{tmp}", "--out", "{tmp}/p.parquet"],
            "firm 'economicus' needs --adapters",
        ),
        (["pricing", "--pairing", "nobody__nash", "--out", "{tmp}/p.parquet"], "'nobody' is neither a reference"),
        (
            ["pricing", "--pairing", "nash__nash", "--pairing", "nash__monopoly", "--out", "{tmp}/p.parquet"],
            "--out takes one pairing; use --out-dir for several",
        ),
        (["evaluate", "--data", "{tmp}", "--out", "{tmp}/e"], "--model is required unless --references or --hosted"),
        (
            ["evaluate", "--references", "--cache-dir", "{tmp}/c", "--data", "{tmp}", "--out", "{tmp}/e"],
            "--cache-dir caches a local model's scores only; --references scores no model",
        ),
    ],
)
def test_user_errors_exit_with_one_line_naming_the_problem(argv, message, tmp_path, capsys):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    takes_config = argv[0] != "export-openai"
    assert main([*argv, *(["--config-json", CONFIG] if takes_config else [])]) == 2
    err = capsys.readouterr().err
    assert message in err and f"econalign {argv[0]}: " in err and "Traceback" not in err
    lines = [line for line in err.splitlines() if message in line]
    assert len(lines) == 1 and lines[0].startswith(f"econalign {argv[0]}: ")  # the whole message on one line


def test_evaluate_needs_an_adapter_exactly_for_an_aligned_agent(tmp_path, capsys):
    common = ["--model", "m", "--data", str(tmp_path), "--out", str(tmp_path / "e"), "--config-json", CONFIG]
    assert main(["evaluate", "--agent", "moralis", *common]) == 2
    assert "agent 'moralis' needs --adapter exactly when it is not 'base'" in capsys.readouterr().err
    assert main(["evaluate", "--agent", "base", "--adapter", "a", *common]) == 2
    assert "agent 'base' needs --adapter exactly when it is not 'base'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["export-openai", "--data", "d", "--out", "o", "--splits", "nope"],
        ["report-games", "--evaluations", "e", "--out", "o", "--index", "--summary"],
    ],
)
def test_invalid_flags_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err or argv[0] == "report-games"


def test_runtime_settings_reach_the_stage_but_not_its_record():
    from econalign.cli import build_parser, config_from_args
    from econalign.io import config_hash, provenance

    parser = build_parser(["finetune"])
    base = ["finetune", "--agent", "economicus", "--model", "m", "--data", "d", "--out", "o"]
    given = json.dumps({"seed": 3, "finetune": {"learning_rate": 0.001}})
    plain = config_from_args(parser.parse_args([*base, "--config-json", given]))
    runtime = json.dumps({"finetune": {"progress": False, "checkpoint_every": 9}, "tracking": {"wandb": True}})
    switched = config_from_args(parser.parse_args([*base, "--config-json", given, "--runtime-json", runtime]))
    assert switched["finetune"]["checkpoint_every"] == 9 and switched["tracking"]["wandb"] is True
    assert switched["finetune"]["learning_rate"] == 0.001  # the section keeps its given keys
    assert plain["finetune"]["checkpoint_every"] != 9
    assert provenance(switched) == provenance(plain) and config_hash(switched) == config_hash(plain)
    assert "progress" not in provenance(switched)["config"]["finetune"]


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ('{"finetune": {"learning_rate": 1, "progress": true}}', 'change results: {"finetune": {"learning_rate": 1}}'),
        ("[1]", "--runtime-json expected a mapping of keys, got list"),
    ],
)
def test_runtime_json_takes_only_runtime_settings(runtime, message, capsys):
    with pytest.raises(SystemExit):
        main(["synthesize", "--out", "o", "--config-json", CONFIG, "--runtime-json", runtime])
    assert message in capsys.readouterr().err


def test_synthesize_in_two_calls_writes_the_bytes_of_one(tmp_path):
    """The workflow's two jobs per agent: the training splits from the agent's own entry, then the rest from all."""
    import hashlib

    data = {"n_train": 12, "n_validation": 6, "n_test": 6, "payoff_max": 7, "test_payoff_max": 8}
    economicus = {"name": "economicus", "preference": "economicus"}
    moralis = {"name": "moralis", "preference": "moralis", "kappa": 0.5}
    agents = [economicus, moralis]
    whole = json.dumps({"seed": 3, "data": data, "agents": agents})
    assert main(["synthesize", "--config-json", whole, "--agent", "moralis", "--out", str(tmp_path / "one")]) == 0
    own = json.dumps({"seed": 3, "data": data, "agents": [moralis]})  # what the training job is given
    split = ["--agent", "moralis", "--out", str(tmp_path / "two")]
    assert main(["synthesize", "--config-json", own, "--splits", "training", *split]) == 0
    written = sorted(path.name for path in (tmp_path / "two" / "moralis").iterdir())
    assert written == ["train.parquet", "validation.parquet"]
    assert main(["synthesize", "--config-json", whole, "--splits", "tests", *split]) == 0

    def digests(folder):
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (folder / "moralis").iterdir()}

    assert digests(tmp_path / "one") == digests(tmp_path / "two") and len(digests(tmp_path / "one")) == 9


def test_paper_refuses_missing_results_and_manuscript_and_writes_nothing(tmp_path, monkeypatch, capsys, repo_root):
    """An empty paper ("14 of 14 targets missed") or a FileNotFoundError traceback were the outcomes before."""
    out = tmp_path / "out"
    common = ["--out", str(out), "--latex", "off", "--config-json", CONFIG]
    manuscript = ["--paper", str(repo_root / "paper")]
    cases = [
        (["--results", str(tmp_path / "nonexist"), *manuscript], "nonexist does not exist: pass the workflow's"),
        (["--results", str(tmp_path), *manuscript], "holds no stage output (evaluate/*/metrics.json, finetune/*"),
    ]
    (tmp_path / "results" / "evaluate" / "base").mkdir(parents=True)
    (tmp_path / "results" / "evaluate" / "base" / "metrics.json").write_text("{}")
    monkeypatch.chdir(tmp_path)  # outside the repository: the default --paper is ./paper, which is not there
    cases.append((["--results", "results"], "paper/main.tex does not exist: pass --paper, the manuscript folder"))
    for argv, message in cases:
        assert main(["paper", *argv, *common]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if message in line]
        assert len(lines) == 1 and lines[0].startswith("econalign paper: ") and "Traceback" not in err
        assert not out.exists()


def test_paper_help_states_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["paper", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: results)", "(default: results/paper)", "(default: paper,", "(default: report.latex)"):
        assert default in text


def test_report_applications_names_the_missing_pricing_logs_and_writes_nothing(tmp_path, capsys):
    av = tmp_path / "av"
    av.mkdir()
    for agent in ("base", "economicus", "moralis"):
        (av / f"{agent}.parquet").touch()  # present: the pricing logs are checked before anything is read
    pricing, out = tmp_path / "pricing", tmp_path / "o"
    pricing.mkdir()
    argv = ["report-applications", "--av", str(av), "--pricing", str(pricing), "--out", str(out)]
    assert main([*argv, "--config-json", CONFIG]) == 2
    err = capsys.readouterr().err
    assert "econalign report-applications: " in err and "pricing lacks base__base.parquet, " in err
    assert "more: run the pricing rule first (econalign pricing --pairing PAIRING)" in err
    assert not out.exists()


def test_prepare_model_explains_an_unknown_spec_before_creating_the_output(tmp_path, capsys):
    out = tmp_path / "D"
    assert main(["prepare-model", "nosuch-model", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("econalign prepare-model: 'nosuch-model' is no model spec") and "Traceback" not in err
    for form in ("'smollm2-135m-instruct'", ".gguf file", "HF checkpoint directory", "local Hugging Face cache"):
        assert form in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"0")
    assert main(["prepare-model", str(not_gguf), "--out", str(out)]) == 2
    assert "is a file but not a .gguf file" in capsys.readouterr().err and not out.exists()
