"""The scale-out profile and the paper-scale config plan the whole DAG.

With snakemake-executor-plugin-slurm installed (``uv sync --extra cluster``) the SLURM profile is dry-run as it is.
Without it, the profile's resources (default-resources, set-resources, global resources) are dry-run on the local
executor through an equivalent profile that drops only the SLURM-specific keys, and a warning says so.
"""

import importlib.util
import re
import subprocess
import sys
import warnings

import pytest
import yaml

from econalign.config import load_config

SLURM_PLUGIN = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
GPU_RULES = ("finetune", "evaluate", "av", "pricing")


def load_profile(repo_root):
    return yaml.safe_load((repo_root / "profiles/slurm/config.yaml").read_text())


def dry_run_profile(repo_root, tmp_path):
    """The profile folder to dry-run: the SLURM profile itself, or its local equivalent when the plugin is absent."""
    if SLURM_PLUGIN:
        return repo_root / "profiles/slurm"
    warnings.warn(
        "snakemake-executor-plugin-slurm is not installed (uv sync --extra cluster): dry-running the SLURM profile's "
        "resources on the local executor instead",
        stacklevel=2,
    )
    local = {key: value for key, value in load_profile(repo_root).items() if not key.startswith("slurm-")}
    for key in ("executor", "jobs", "local-cores"):
        local.pop(key, None)
    folder = tmp_path / "profile"
    folder.mkdir(exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(local))
    return folder


def at_attempt(value, attempt):
    """A profile resource as Snakemake evaluates it for a job's attempt: an int, or the expression "N * attempt"."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+) \* attempt", value)
    assert match, f"unexpected resource expression {value!r}"
    return int(match.group(1)) * attempt


def dry_run_command(repo_root, tmp_path, configfile, *args):
    """A dry run of the whole DAG through the SLURM profile (or its local equivalent)."""
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(repo_root / "Snakefile"),
        "--directory", str(tmp_path / "run"),
        "--configfile", str(repo_root / configfile),
        "--workflow-profile", str(dry_run_profile(repo_root, tmp_path)),
        "--dry-run", *args,
    ]  # fmt: skip
    if not SLURM_PLUGIN:
        command += ["--cores", "1"]
    (tmp_path / "run").mkdir(exist_ok=True)
    return command


def job_resources(stdout):
    """Rule name -> resources line of every job in a dry run's printout."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", stdout):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        resources = re.search(r"^\s*resources: (.*)$", block, re.MULTILINE)
        if match and resources:
            jobs.setdefault(match.group(1), resources.group(1))
    return jobs


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper-scale.yaml"])
def test_slurm_profile_dry_run_sends_gpu_rules_to_gpus(repo_root, tmp_path, configfile):
    command = dry_run_command(repo_root, tmp_path, configfile)
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_resources(result.stdout)
    profile_yaml = load_profile(repo_root)
    for rule in GPU_RULES:
        wanted = profile_yaml["set-resources"][rule]
        assert f"gpu={wanted['gpu']}" in jobs[rule], (rule, jobs[rule])
        assert f"slurm_partition={wanted['slurm_partition']}" in jobs[rule]
        assert f"mem_mb={at_attempt(wanted['mem_mb'], 1)}," in jobs[rule]
    defaults = profile_yaml["default-resources"]
    for rule in ("synthesize_training", "synthesize", "report_applications", "paper"):
        assert "gpu=" not in jobs[rule]
        assert f"slurm_partition={defaults['slurm_partition']}" in jobs[rule]
    # A wrong account fails every submission (the plugin checks it against sacctmgr): none is set until edited.
    assert "slurm_account" not in defaults


def test_a_retried_job_gets_twice_the_memory_and_time(repo_root, tmp_path):
    """profiles/slurm retries a failed job once; the GPU rules' resources (profile expressions) and the CPU rules'
    (declared in the rules) scale with the attempt. `--attempt` (Snakemake's, for remote jobs) sets it here."""
    runs = {}
    for attempt in (1, 2):
        command = dry_run_command(repo_root, tmp_path, "config/config.yaml", "--attempt", str(attempt))
        result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[attempt] = job_resources(result.stdout)
    set_resources = load_profile(repo_root)["set-resources"]
    for rule in (*GPU_RULES, "synthesize_training", "synthesize", "evaluate_reference", "report_games_table", "paper"):
        values = {}
        for attempt, jobs in runs.items():
            found = {key: int(re.search(rf"\b{key}=(\d+),", jobs[rule]).group(1)) for key in ("mem_mb", "runtime")}
            values[attempt] = found
            if rule in set_resources:
                assert found == {key: at_attempt(set_resources[rule][key], attempt) for key in found}, rule
        assert values[2] == {key: 2 * value for key, value in values[1].items()}, (rule, values)


def test_documented_slurm_command_is_not_overridden_by_the_local_profile(repo_root, tmp_path, monkeypatch):
    """`profiles/default` (one JAX job at a time, stop at the first failure) must not apply on the cluster.

    Snakemake loads a workflow profile on top of `--profile` and lets it win, so the SLURM profile is passed as the
    workflow profile, which replaces `profiles/default`.
    """
    from snakemake.cli import parse_args

    for doc in ("profiles/README.md", "docs/scale-out.md", "config/README.md"):
        text = (repo_root / doc).read_text()
        assert "snakemake --workflow-profile profiles/slurm" in text and "snakemake --profile" not in text, doc
    monkeypatch.chdir(repo_root)
    profile = load_profile(repo_root)
    _, args = parse_args(["--workflow-profile", str(dry_run_profile(repo_root, tmp_path)), "--dry-run"])
    assert args.resources["jax"].value == 1000 == int(profile["resources"][0].split("=")[1])
    assert args.keep_going is True and args.retries == profile["retries"] == 1
    _, local = parse_args(["--dry-run"])  # the local default profile, for contrast
    assert local.resources["jax"].value == 1 and local.keep_going is False


def test_every_profile_entry_is_commented(repo_root):
    lines = (repo_root / "profiles/slurm/config.yaml").read_text().splitlines()
    entries = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    uncommented = [line for line in entries if " # " not in line]
    assert entries and not uncommented, uncommented


def test_paper_scale_config_validates_and_is_paper_sized(repo_root):
    config = load_config(repo_root / "config/paper-scale.yaml")
    default = load_config(repo_root / "config/config.yaml")
    assert config["model"]["dtype"] == "bfloat16"
    assert config["model"]["spec"] != default["model"]["spec"]
    assert config["pricing"]["periods"] == 300
    assert config["data"]["n_train"] > default["data"]["n_train"]
    assert len(config["agents"]) > len(default["agents"])  # the kappa grid adds agents
    mesh = config["finetune"]["mesh"]
    assert mesh["data"] * mesh["fsdp"] == load_profile(repo_root)["set-resources"]["finetune"]["gpu"]


@pytest.mark.parametrize(
    ("configfile", "runtime", "mem_mb"),
    [("config/config.yaml", 60, 12000), ("config/embedded-gpu.yaml", 180, 16000)],
)
def test_finetune_declares_the_time_and_memory_of_its_method(repo_root, tmp_path, configfile, runtime, mem_mb):
    # Full fine-tuning (embedded-gpu.yaml) took 58-74 min per agent on 2 CPU cores: a 60-minute limit would kill it.
    (tmp_path / "run").mkdir()
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(repo_root / "Snakefile"),
        "--directory", str(tmp_path / "run"), "--configfile", str(repo_root / configfile), "--dry-run", "--cores", "1",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    resources = job_resources(result.stdout)["finetune"]
    assert f"runtime={runtime}," in resources and f"mem_mb={mem_mb}," in resources, resources
