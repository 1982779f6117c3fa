"""The Snakemake DAG plans from the shipped configs and rejects bad ones before any job runs."""

import functools
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def snakemake(repo_root, tmp_path, *args):
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(repo_root / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
        "--dry-run",
        "--quiet",
        "rules",
        *args,
    ]
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("configfile", ["config/config.yaml", ".test/config.yaml"])
def test_dag_plans_every_stage(repo_root, tmp_path, configfile):
    result = snakemake(repo_root, tmp_path, "--configfile", str(repo_root / configfile))
    assert result.returncode == 0, result.stderr
    for rule in ["prepare_model", "synthesize", "finetune", "evaluate", "av", "pricing", "paper"]:
        assert rule in result.stdout


def test_bad_config_value_fails_before_any_job_naming_the_key(repo_root, tmp_path):
    result = snakemake(repo_root, tmp_path, "--configfile", str(repo_root / ".test/config.yaml"), "--config", "seed=-4")
    assert result.returncode != 0
    assert "seed: -4 is less than the minimum of 0" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def _job_counts(stdout):
    # The dry-run's job table: one "rule count" row per rule.
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def test_hosted_models_are_evaluated_beside_the_agents_but_not_in_the_applications(repo_root, tmp_path):
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    config["hosted"] = [
        {"name": "gpt4o", "model": "gpt-4o-2024-08-06"},
        {"name": "o3mini", "model": "o3-mini-2025-01-31", "logprobs": False, "temperature": None},
    ]
    configfile = tmp_path / "hosted.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(repo_root, tmp_path, "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr
    counts = _job_counts(result.stdout)
    assert counts["evaluate_hosted"] == 2
    assert counts["evaluate"] == 3  # base and the two agents: never a hosted name
    assert counts["av"] == 3  # hosted models take no part in the applications
    assert counts["paper"] == 1

    # One hosted result is made by evaluate_hosted alone.
    one = snakemake(repo_root, tmp_path, "--configfile", str(configfile), "--", "results/evaluate/o3mini/metrics.json")
    assert one.returncode == 0, one.stderr
    assert _job_counts(one.stdout).get("evaluate_hosted") == 1 and "evaluate" not in _job_counts(one.stdout)
    # The game report reads every hosted model's results; the applications' report none.
    table = snakemake(repo_root, tmp_path, "--configfile", str(configfile), "--", "results/report_games/agreement.md")
    assert table.returncode == 0, table.stderr
    assert _job_counts(table.stdout).get("evaluate_hosted") == 2
    applications = snakemake(repo_root, tmp_path, "--configfile", str(configfile), "--", "report_applications")
    assert applications.returncode == 0, applications.stderr
    assert "evaluate_hosted" not in _job_counts(applications.stdout)


def test_hosted_name_that_repeats_an_agent_fails_before_any_job(repo_root, tmp_path):
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    config["hosted"] = [{"name": "moralis", "model": "gpt-4o-2024-08-06"}]
    configfile = tmp_path / "clash.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(repo_root, tmp_path, "--configfile", str(configfile))
    assert result.returncode != 0
    assert "already used by local agents" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_planning_the_dag_imports_no_numerical_stack():
    # The Snakefile imports these while planning; a heavy import here is paid by every snakemake call and dry-run.
    code = (
        "import sys\n"
        "import econalign.config, econalign.evaluate.outputs, econalign.applications.pairings\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'scipy', 'jax', 'polars', 'matplotlib'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_without_a_configfile_the_working_directory_config_wins_over_the_default_study(repo_root, tmp_path):
    default = snakemake(repo_root, tmp_path)  # an empty working directory: the study beside the Snakefile
    assert default.returncode == 0, default.stderr
    assert _job_counts(default.stdout)["finetune"] == 2
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    config["agents"].append({"name": "moralis_k90", "preference": "moralis", "kappa": 0.9})
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    own = snakemake(repo_root, tmp_path)
    assert own.returncode == 0, own.stderr
    assert _job_counts(own.stdout)["finetune"] == 3


def test_the_snakefile_splits_are_the_datasets(repo_root):
    import ast
    import re

    from econalign.data import SPLITS

    match = re.search(r"^SPLITS = (\[.*\])$", (repo_root / "workflow/rules/common.smk").read_text(), re.MULTILINE)
    assert match and tuple(ast.literal_eval(match.group(1))) == SPLITS


def test_the_paper_rule_declares_every_manuscript_file_the_paper_copies(repo_root):
    import ast
    import re

    from econalign.report.paper import GENERATED, SOURCE_SUFFIXES

    text = (repo_root / "workflow/rules/paper.smk").read_text()
    for name, value in (("PAPER_SUFFIXES", SOURCE_SUFFIXES), ("PAPER_GENERATED", GENERATED)):
        match = re.search(rf"^{name} = (\(.*\))$", text, re.MULTILINE)
        assert match and tuple(ast.literal_eval(match.group(1))) == value


@functools.cache
def _dry_run_lines(repo_root, tmp_path, configfile, config_text):
    # One dry run per config file and content (each costs seconds of planning); `config_text` keys the cache, so a
    # file rewritten with other settings is planned again.
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(repo_root / "Snakefile"), "--directory",
               str(tmp_path), "--cores", "1", "--dry-run", "--forceall", "--printshellcmds", "--configfile",
               str(configfile)]  # fmt: skip
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return tuple(result.stdout.splitlines())


def _shell_commands(repo_root, tmp_path, configfile, rule):
    # The shell commands a dry run of the whole DAG would give one rule's jobs.
    lines = _dry_run_lines(repo_root, tmp_path, configfile, Path(configfile).read_text())
    prefix = f"Shell command: econalign {rule} "
    return sorted(line.removeprefix("Shell command: ") for line in lines if line.startswith(prefix))


def test_settings_that_change_no_result_stay_out_of_the_tracked_params(repo_root, tmp_path):
    """Switching a progress bar, a checkpoint interval or tracking reruns nothing: Snakemake
    tracks params, and these reach the stages by --runtime-json, formatted from a global."""
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(config))
    config.setdefault("finetune", {}).update(progress=False, checkpoint_every=7, keep_checkpoint=True)
    config.setdefault("pricing", {})["checkpoint_every"] = 3
    config["tracking"] = {"wandb": True, "project": "other"}
    switched = tmp_path / "switched.yaml"
    switched.write_text(yaml.safe_dump(config))
    for rule in ["finetune", "pricing"]:
        before = _shell_commands(repo_root, tmp_path, plain, rule)
        after = _shell_commands(repo_root, tmp_path, switched, rule)
        assert before and len(before) == len(after)
        for old, new in zip(before, after, strict=True):
            config_old = old.split("--config-json ")[1].split(" --runtime-json")[0]
            config_new = new.split("--config-json ")[1].split(" --runtime-json")[0]
            assert config_old == config_new  # the tracked params
            assert (old != new) == ("--runtime-json" in old)  # the runtime settings did reach the command
    assert '"checkpoint_every": 7' in _shell_commands(repo_root, tmp_path, switched, "finetune")[0]


def test_the_report_settings_of_pricing_rerun_the_report_alone(repo_root, tmp_path):
    """pricing.metric_window and price_war_length are read by report_applications only (config.REPORT_SETTINGS)."""
    from econalign.config import REPORT_SETTINGS

    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(config))
    changed = {"metric_window": 2, "price_war_length": 4}
    assert {path[-1] for path in REPORT_SETTINGS} == set(changed)
    config.setdefault("pricing", {}).update(changed)
    switched = tmp_path / "switched.yaml"
    switched.write_text(yaml.safe_dump(config))
    assert _shell_commands(repo_root, tmp_path, plain, "pricing") == _shell_commands(
        repo_root, tmp_path, switched, "pricing"
    )
    report = _shell_commands(repo_root, tmp_path, switched, "report-applications")
    assert report != _shell_commands(repo_root, tmp_path, plain, "report-applications")
    assert '"metric_window": 2' in report[0]


def test_the_scoring_precision_does_not_rerun_synthesis_or_training(repo_root, tmp_path):
    """model.dtype is read by the scoring stages; the datasets never read it, and training does only when
    finetune.dtype is null."""
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    config.setdefault("finetune", {})["dtype"] = "bfloat16-mixed"
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(config))
    config.setdefault("model", {})["dtype"] = "bfloat16"
    switched = tmp_path / "switched.yaml"
    switched.write_text(yaml.safe_dump(config))
    for rule, same in [("synthesize", True), ("finetune", True), ("evaluate", False)]:
        before = _shell_commands(repo_root, tmp_path, plain, rule)
        after = _shell_commands(repo_root, tmp_path, switched, rule)
        assert before and (before == after) == same, rule
    config["finetune"]["dtype"] = None  # training in model.dtype: now it must follow it
    follows = tmp_path / "follows.yaml"
    follows.write_text(yaml.safe_dump(config))
    assert '"dtype": "bfloat16"' in _shell_commands(repo_root, tmp_path, follows, "finetune")[0]


def _by_agent(commands, *, containing=""):
    # The commands that contain `containing`, keyed by their --agent.
    return {command.split("--agent ")[1].split()[0]: command for command in commands if containing in command}


@pytest.mark.parametrize(
    "extra",
    [
        {"agents": [{"name": "moralis_k0_9", "preference": "moralis", "kappa": 0.9}]},
        {"kappa_grid": [0.9]},
    ],
    ids=["agent", "kappa_grid"],
)
def test_adding_an_agent_reruns_no_training_data_or_fine_tuning_of_the_others(repo_root, tmp_path, extra):
    """An agent's train and validation splits and its fine-tuning read its own entry only; the test splits are drawn
    for every agent together, so they (with the card, baselines and provenance) follow the agent list."""
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(config))
    config["agents"] += extra.get("agents", [])
    config["kappa_grid"] = extra.get("kappa_grid", [])
    added = tmp_path / "added.yaml"
    added.write_text(yaml.safe_dump(config))
    before = {rule: _shell_commands(repo_root, tmp_path, plain, rule) for rule in ("synthesize", "finetune")}
    after = {rule: _shell_commands(repo_root, tmp_path, added, rule) for rule in ("synthesize", "finetune")}
    new = "moralis_k0_9" if "agents" in extra else "moralis_k90"
    for rule, containing in [("synthesize", "--splits training"), ("finetune", ""), ("synthesize", "--splits tests")]:
        old, now = _by_agent(before[rule], containing=containing), _by_agent(after[rule], containing=containing)
        assert set(old) == {"economicus", "moralis"} and set(now) == {*old, new}, (rule, containing)
        for agent in old:
            # Snakemake reruns a job whose params change, and they are formatted into these commands.
            assert (old[agent] == now[agent]) == (containing != "--splits tests"), (agent, rule, containing)
        for agent, command in now.items():
            stage = json.loads(shlex.split(command)[shlex.split(command).index("--config-json") + 1])
            names = [entry["name"] for entry in stage["agents"]]
            # Each job still reads what it needs: its own entry (the grid's agents are entries by now), or all.
            assert names == (["economicus", "moralis", new] if "tests" in containing else [agent]), (agent, rule)
            assert ("kappa_grid" in stage) == (containing == "--splits tests")
    # The AV scenarios of an agent read its own entry; the base model's job still carries the list.
    old, now = (_by_agent(_shell_commands(repo_root, tmp_path, c, "av")) for c in (plain, added))
    assert set(now) == {*old, new} and {a for a in old if old[a] == now[a]} == {"economicus", "moralis"}


def test_the_tie_margin_reaches_the_av_stage_and_its_report(repo_root, tmp_path):
    """data.tie_margin is the tie rule of the AV predictions too: it must be in those stages' tracked params."""
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(config))
    config.setdefault("data", {})["tie_margin"] = 0.1
    switched = tmp_path / "switched.yaml"
    switched.write_text(yaml.safe_dump(config))
    for rule in ("av", "report-applications"):
        after = _shell_commands(repo_root, tmp_path, switched, rule)
        assert after != _shell_commands(repo_root, tmp_path, plain, rule) and '"tie_margin": 0.1' in after[0], rule


def test_a_local_model_file_is_an_input_of_prepare_model(repo_root, tmp_path):
    """Replacing a local checkpoint reruns the conversion; the embedded name names no file."""
    local = tmp_path / "my.gguf"
    local.write_bytes(b"GGUF")
    config = yaml.safe_load((repo_root / ".test/config.yaml").read_text())
    config.setdefault("model", {})["spec"] = str(local)
    configfile = tmp_path / "local.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "results/prepare_model/base", "--snakefile",
               str(repo_root / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "--dry-run", "--forceall",
               "--configfile", str(configfile)]  # fmt: skip
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"input: {local}" in result.stdout
