"""The whole DAG on the tiny study (.test/config.yaml) with the real embedded model.

One session-scoped run exercises every rule; the tests then check what it wrote, that a second
invocation has nothing to do, and that rebuilding the tables reproduces them byte for byte.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REBUILT_RULES = ["report_games", "report_applications", "paper"]


def snakemake(repo_root: Path, workdir: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(repo_root / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(repo_root / ".test" / "config.yaml"),
        "--cores",
        "2",
        "--resources",
        "jax=1",
        *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=timeout, env=env)


def _logs(workdir: Path) -> str:
    parts = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        parts.append(f"==> {log.relative_to(workdir)} <==\n{log.read_text()[-3000:]}")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def dag_run(repo_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dag")
    result = snakemake(repo_root, workdir)
    assert result.returncode == 0, f"{result.stderr[-6000:]}\n{_logs(workdir)}"
    return workdir


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_stage_wrote_its_outputs(dag_run):
    results = dag_run / "results"
    assert (results / "prepare_model" / "base" / "model.safetensors").exists()
    for agent in ["economicus", "moralis"]:
        assert (results / "synthesize" / agent / "card.md").exists()
        assert (results / "finetune" / agent / "adapter" / "adapter_model.safetensors").exists()
        assert (results / "finetune" / agent / "adapter" / "adapter_config.json").exists()
    for agent in ["base", "economicus", "moralis"]:
        metrics = json.loads((results / "evaluate" / agent / "metrics.json").read_text())
        assert metrics, agent
        assert (results / "av" / f"{agent}.parquet").exists()
    assert list((results / "pricing").glob("*.parquet"))
    assert (results / "paper" / "RESULTS.md").read_text().strip()
    index = (results / "report_games" / "index.md").read_text()
    assert (results / "report_games" / "agreement.md").read_text().strip() in index
    assert "(cooperation_vs_temptation.png)" in index


def test_split_table_has_a_column_per_scored_split(dag_run):
    """The table job runs without the per-item results; it once printed agents and theories with no split at all."""
    metrics = json.loads((dag_run / "results" / "evaluate" / "base" / "metrics.json").read_text())
    header = (dag_run / "results" / "report_games" / "agreement_by_split.md").read_text().splitlines()[0]
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[:2] == ["agent", "theory"]
    assert sorted(columns[2:]) == sorted(split for split in metrics["agreement"] if split != "all")


def test_outputs_carry_seed_and_model_hash(repo_root, dag_run):
    import yaml

    results = dag_run / "results"
    sha = json.loads((results / "prepare_model" / "base" / "provenance.json").read_text())["model_sha256"]
    assert len(sha) == 64
    seed = yaml.safe_load((repo_root / ".test" / "config.yaml").read_text())["seed"]
    summary = (results / "paper" / "RESULTS.md").read_text()
    assert sha in summary and f"seed {seed}," in summary
    records = {
        path.relative_to(results).as_posix(): json.loads(path.read_text())
        for path in results.rglob("*provenance.json")
        if "prepare_model" not in path.parts and "paper" not in path.parts
    }
    assert {
        "synthesize/moralis/provenance.json",
        "finetune/moralis/provenance.json",
        "av/moralis.provenance.json",
    } <= set(records)
    for name, record in records.items():
        assert isinstance(record["seed"], int), name  # the stage's own seed, derived from the config's
        assert record["config"]["seed"] == seed and len(record["config_hash"]) == 16, name
    for agent in ["base", "economicus", "moralis"]:
        metrics = json.loads((results / "evaluate" / agent / "metrics.json").read_text())
        assert metrics["seed"] == seed and metrics["provenance"]["model_sha256"] == sha


def test_scores_hold_a_probability_per_option(dag_run):
    scores = pl.read_parquet(dag_run / "results" / "evaluate" / "moralis" / "items.parquet")
    assert scores.height > 0
    for labels, probs, logprobs, choice in scores.select("labels", "probs", "logprobs", "choice_index").iter_rows():
        assert len(probs) == len(logprobs) == len(labels) >= 2
        softmax = np.exp(np.asarray(logprobs) - max(logprobs))
        np.testing.assert_allclose(probs, softmax / softmax.sum(), rtol=1e-6)
        assert choice == int(np.argmax(probs))


def test_second_invocation_has_nothing_to_do(repo_root, dag_run):
    result = snakemake(repo_root, dag_run, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_rebuilding_tables_is_byte_identical(repo_root, dag_run):
    tables = sorted(
        path
        for folder in ["report_games", "report_applications", "paper"]
        for path in (dag_run / "results" / folder).rglob("*")
        if path.suffix in {".md", ".tex", ".json"}
    )
    assert tables
    before = {path: _digest(path) for path in tables}
    result = snakemake(repo_root, dag_run, "--forcerun", *REBUILT_RULES)
    assert result.returncode == 0, result.stderr[-4000:]
    after = {path: _digest(path) for path in tables}
    changed = [str(path.relative_to(dag_run)) for path in tables if before[path] != after[path]]
    assert changed == []


def test_logged_scores_replay_through_the_agent(dag_run):
    """Scores stored by evaluate, av and pricing equal the aligned agent's own score of the logged prompt."""

    from econalign.data.templates import decision_line
    from econalign.model.agent import load_agent

    results = dag_run / "results"
    agent = load_agent(results / "prepare_model" / "base", adapter=results / "finetune" / "moralis" / "adapter",
                       progress=False)  # fmt: skip

    items = pl.read_parquet(results / "evaluate" / "moralis" / "items.parquet")
    scored = items.filter(pl.col("split") == "test_payoffs").row(0, named=True)
    row = pl.read_parquet(results / "synthesize" / "moralis" / "test_payoffs.parquet").filter(
        pl.col("id") == scored["id"]
    )
    options = [decision_line(option["label"]) for option in json.loads(row["options"][0])]
    direct = agent.choice_logprobs([json.loads(row["messages"][0])], options)[0]
    np.testing.assert_allclose(scored["logprobs"], direct, atol=1e-4)

    av = pl.read_parquet(results / "av" / "moralis.parquet").row(0, named=True)
    av_options = json.loads(av["options"])
    direct = agent.choice_logprobs(json.loads(av["messages"]), [decision_line(o["label"]) for o in av_options])
    np.testing.assert_allclose(direct, [av["logprob_" + o["action"]] for o in av_options], atol=1e-4)

    period = pl.read_parquet(results / "pricing" / "moralis__moralis.parquet").row(-1, named=True)
    direct = agent.choice_logprobs(json.loads(period["prompt"]), [decision_line(x) for x in period["labels"]])
    np.testing.assert_allclose(direct, period["logprobs"], atol=1e-4)
