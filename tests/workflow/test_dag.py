"""The Snakemake DAG plans from the shipped configs and rejects bad ones before any job runs."""

import subprocess
import sys

import pytest


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
