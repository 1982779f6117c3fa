"""``econalign report-games``: every table and figure from the battery's outputs, byte-identical on a re-run."""

import json

import numpy as np
import polars as pl
import pytest

from econalign.cli import main
from econalign.config import load_config
from econalign.evaluate.battery import evaluate_references, evaluate_scorer, own_theory
from econalign.evaluate.cache import ScoreCache
from econalign.evaluate.collect import load_results
from econalign.evaluate.report import report_games, report_outputs
from econalign.evaluate.scoring import AgentScorer
from econalign.evaluate.tables import agreement_by_split_table, agreement_table, belief_use_table

from .fakes import CountingAgent

OVERRIDES = {
    "evaluate": {"max_items_per_split": 16, "consistency_items": 6},
    "kappa_grid": [0.5],
    "report": {"kappa_points": 3, "temptation_bins": 3},
}


@pytest.fixture(scope="module")
def results_dir(dataset_dir, tmp_path_factory):
    config = load_config(overrides=OVERRIDES)
    root = tmp_path_factory.mktemp("results")
    evaluate_references(config, data_dir=dataset_dir, out_dir=root / "evaluate_reference")
    for name in ["base", "economicus", "moralis", "moralis_k50"]:
        agent = CountingAgent()
        scorer = AgentScorer(agent, name=name, cache=ScoreCache(None, model_sha256=name, adapter="none"))
        evaluate_scorer(config, scorer, data_dir=dataset_dir, out_dir=root / "evaluate" / name,
                        own=own_theory(config, name))  # fmt: skip
    return root, config


def test_outputs_depend_on_the_kappa_grid():
    assert "kappa_sweep" not in report_outputs(load_config())["figures"]
    assert "kappa_sweep" in report_outputs(load_config(overrides={"kappa_grid": [0.25, 0.75]}))["figures"]


def test_every_table_and_figure_is_written_byte_identically(results_dir, tmp_path):
    root, config = results_dir
    arguments = {"evaluations": root / "evaluate", "references": root / "evaluate_reference"}
    first = report_games(config, out_dir=tmp_path / "a", figures=["cooperation_vs_temptation", "kappa_sweep",
                                                                  "agreement_by_split"], **arguments)  # fmt: skip
    second = report_games(config, out_dir=tmp_path / "b", tables=["agreement"], figures=["kappa_sweep"], **arguments)
    names = {p.name for p in first}
    assert {"agreement.md", "agreement.tex", "sensitivity.md", "cooperation.tex", "utility.md"} <= names
    assert {"cooperation_vs_temptation.png", "cooperation_vs_temptation.pdf", "kappa_sweep.pdf"} <= names
    for path in second:
        assert path.read_bytes() == (tmp_path / "a" / path.name).read_bytes()
    assert {p.name for p in second} == {"agreement.md", "agreement.tex", "kappa_sweep.png", "kappa_sweep.pdf"}


def test_agreement_table_lists_agents_then_rules_with_intervals(results_dir):
    root, _ = results_dir
    results = load_results(
        root / "evaluate",
        root / "evaluate_reference",
        ["base", "economicus", "moralis", "moralis_k50"],
        with_items=False,
    )
    header, rows, _ = agreement_table(results)
    assert header[1:3] == ["agrees with economicus", "agrees with moralis κ=0.5"]
    assert [row[0] for row in rows[:4]] == ["base", "economicus", "moralis", "moralis_k50"]
    assert rows[4][0] == "exact_economicus"
    exact = {row[0]: row for row in rows}["exact_moralis_k50"]
    assert exact[2].startswith("1.00 [")
    metrics = json.loads((root / "evaluate" / "base" / "metrics.json").read_text())
    estimate = metrics["agreement"]["all"]["economicus"]["all"]["choice"]["estimate"]
    assert rows[0][1].startswith(f"{estimate:.2f} [")


def test_belief_use_table_puts_the_belief_ignoring_rule_at_zero_where_the_belief_matters(results_dir):
    root, _ = results_dir
    names = ["base", "economicus", "moralis", "moralis_k50"]
    results = load_results(root / "evaluate", root / "evaluate_reference", names, with_items=False)
    header, rows, caption = belief_use_table(results)
    assert header == [
        "agent",
        "theory",
        "test splits pooled: belief changes the answer",
        "test splits pooled: elsewhere",
        "unseen payoffs: belief changes the answer",
        "unseen payoffs: elsewhere",
    ]
    by_row = {(row[0], row[1]): row for row in rows}
    rule = by_row[("ignoring_belief_economicus", "economicus")]
    assert rule[2].startswith("0.00 [") and ", n = " in rule[2] and rule[3].startswith("1.00 [")
    exact = by_row[("exact_economicus", "economicus")]
    assert exact[2].startswith("1.00 [") and exact[3].startswith("1.00 [")
    assert "only an agent that reads the belief" in caption


def test_cli_builds_one_table(results_dir, tmp_path):
    root, _ = results_dir
    args = [
        "report-games",
        "--config-json",
        json.dumps(OVERRIDES),
        "--evaluations",
        str(root / "evaluate"),
        "--references",
        str(root / "evaluate_reference"),
        "--out",
        str(tmp_path),
        "--tables",
        "cooperation",
    ]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cooperation.md", "cooperation.tex"]
    text = (tmp_path / "cooperation.md").read_text()
    assert "humans (Brookins & DeBacker (2024), Economics Bulletin)" in text and "| 0.37 |" in text


def _write_evaluation(root, agent, own, ids, splits, agree, problems=None):
    from econalign.io import write_json, write_parquet

    folder = root / agent
    frame = pl.DataFrame(
        {
            "id": ids,
            "split": splits,
            "agent": [agent] * len(ids),
            "game_key": ids if problems is None else problems,
            "agree_economicus": agree,
        },
        schema={
            "id": pl.String,
            "split": pl.String,
            "agent": pl.String,
            "game_key": pl.String,
            "agree_economicus": pl.Boolean,
        },
    )
    write_parquet(folder / "items.parquet", frame)
    write_json(folder / "metrics.json", {"own_theory": own, "confidence": 0.95, "theories": ["economicus"]})


def test_games_summary_pairs_each_agent_with_base_by_item(tmp_path):
    from scipy import stats

    from econalign.evaluate.report import games_summary

    splits = ["test_payoffs"] * 20 + ["test_families"] * 20 + ["probe_labels"] * 6
    ids = [f"i{k:02d}" for k in range(len(splits))]
    base = [k % 2 == 0 for k in range(len(splits))]
    aligned = [k % 5 != 0 for k in range(len(splits))]
    _write_evaluation(tmp_path, "base", None, ids, splits, base)
    _write_evaluation(tmp_path, "economicus", "economicus", ids[::-1], splits[::-1], aligned[::-1])
    summary = games_summary(load_config(), tmp_path)  # moralis has no results: left out
    assert list(summary["gain_over_base"]) == ["economicus"]
    gains = summary["gain_over_base"]["economicus"]
    assert list(gains) == ["all", "test_payoffs", "test_families"]
    for split, rows in (("all", slice(0, 40)), ("test_payoffs", slice(0, 20)), ("test_families", slice(20, 40))):
        mine, theirs = (np.array(values[rows], dtype=float) for values in (aligned, base))
        assert gains[split]["n"] == len(mine)  # the probes stay out of "all"
        assert gains[split]["estimate"] == pytest.approx((mine - theirs).mean())
        assert gains[split]["estimate"] / gains[split]["se"] == pytest.approx(stats.ttest_rel(mine, theirs).statistic)
    assert gains["all"]["significant"] is True
    assert gains["all"]["method"] == "paired t, clustered by game_key" and gains["all"]["clusters"] == 40


def test_games_summary_counts_a_decision_problem_posed_twice_once(tmp_path):
    """Items 20-39 pose the problems of items 0-19 again (other words, same game_key, same answers)."""
    from econalign.evaluate.report import games_summary

    splits = ["test_payoffs"] * 20 + ["test_paraphrases"] * 20
    ids = [f"i{k:02d}" for k in range(40)]
    problems = [f"game{k % 20:02d}" for k in range(40)]
    base = [k % 2 == 0 for k in range(40)]
    aligned = [k % 5 != 0 for k in range(40)]
    _write_evaluation(tmp_path, "base", None, ids, splits, base, problems)
    _write_evaluation(tmp_path, "economicus", "economicus", ids, splits, aligned, problems)
    gains = games_summary(load_config(), tmp_path)["gain_over_base"]["economicus"]
    pooled, once = gains["all"], gains["test_payoffs"]
    assert pooled["n"] == 40 and pooled["clusters"] == 20 and once["clusters"] == 20
    # Forty items that repeat twenty problems carry the evidence of the twenty: the same estimate and interval.
    assert pooled["estimate"] == pytest.approx(once["estimate"])
    assert (pooled["low"], pooled["se"], pooled["high"]) == pytest.approx((once["low"], once["se"], once["high"]))


def test_cli_writes_the_summary_byte_identically(results_dir, tmp_path):
    root, _ = results_dir
    outputs = []
    for out in ("a", "b"):
        args = ["report-games", "--config-json", json.dumps(OVERRIDES), "--evaluations", str(root / "evaluate"),
                "--out", str(tmp_path / out), "--summary"]  # fmt: skip
        assert main(args) == 0
        assert sorted(p.name for p in (tmp_path / out).iterdir()) == ["summary.json"]
        outputs.append((tmp_path / out / "summary.json").read_bytes())
    assert outputs[0] == outputs[1]
    summary = json.loads(outputs[0])
    assert set(summary["gain_over_base"]) == {"economicus", "moralis", "moralis_k50"}
    assert summary["seed"] == 0 and summary["confidence"] == 0.95


def test_split_table_reads_the_splits_from_the_metrics_without_items(results_dir):
    """The DAG builds each table in its own job, without the per-item tables: the splits must still be columns."""
    root, _ = results_dir
    agents = ["base", "economicus", "moralis", "moralis_k50"]
    results = load_results(root / "evaluate", root / "evaluate_reference", agents, with_items=False)
    assert results.items.is_empty()
    header, rows, _ = agreement_by_split_table(results)
    with_items = load_results(root / "evaluate", root / "evaluate_reference", agents)
    splits = sorted(set(with_items.items["split"].unique().to_list()))
    assert header[:2] == ["agent", "theory"] and sorted(header[2:]) == splits
    assert header[2:] == [*with_items.test_splits, *with_items.probe_splits]
    assert agreement_by_split_table(with_items) == (header, rows, agreement_by_split_table(with_items)[2])
    metrics = json.loads((root / "evaluate" / "economicus" / "metrics.json").read_text())
    row = next(r for r in rows if r[:2] == ["economicus", "economicus"])
    for split, cell in zip(header[2:], row[2:], strict=True):
        estimate = metrics["agreement"][split]["economicus"]["all"]["choice"]["estimate"]
        assert cell.startswith(f"{estimate:.2f} [")


def test_parse_failures_are_a_column_only_when_some_agent_generated(results_dir):
    import dataclasses

    root, _ = results_dir
    results = load_results(root / "evaluate", root / "evaluate_reference", ["base", "economicus"], with_items=False)
    assert {results.metrics[name]["mode"] for name in results.agents} == {"logprob"}
    header, rows, caption = agreement_table(results)
    assert "parse failures" not in header and "parse" not in caption
    assert all(len(row) == len(header) for row in rows)
    reasoning = {**results.metrics["economicus"], "mode": "reasoning"}
    generated = dataclasses.replace(results, metrics={**results.metrics, "economicus": reasoning})
    header, rows, _ = agreement_table(generated)
    assert header[-1] == "parse failures" and all(len(row) == len(header) for row in rows)
    assert rows[1][-1].startswith("0.00 [")  # the fake agent's replies all parsed


def test_temptation_bins_count_a_decision_problem_posed_twice_once():
    from econalign.evaluate.figures import _binned
    from econalign.stats import mean_interval

    rng = np.random.default_rng(5)
    levels = rng.random(12)
    temptation = np.linspace(0.1, 0.9, 12)
    once = pl.DataFrame({"x_temptation": temptation, "coop_expected": levels, "game_key": [f"g{i}" for i in range(12)]})
    twice = pl.concat([once, once])  # the same problems posed again in a second split
    edges = np.array([0.0, 0.5, 1.0])
    assert all(np.allclose(a, b) for a, b in zip(_binned(once, edges), _binned(twice, edges), strict=True))
    # Without problem keys the copies count as independent items and narrow the interval.
    naive = _binned(twice.drop("game_key"), edges)
    low_half = levels[temptation < 0.5]
    expected = mean_interval(low_half)
    assert (_binned(twice, edges)[2][0], _binned(twice, edges)[3][0]) == pytest.approx(
        (max(0.0, expected["low"]), min(1.0, expected["high"]))
    )
    assert naive[3][0] - naive[2][0] < _binned(twice, edges)[3][0] - _binned(twice, edges)[2][0]
