"""``econalign report-games``: tables (markdown + LaTeX), figures (PNG + PDF) and comparisons of the game battery.

Each table and figure is one function of the battery's outputs (``results/evaluate/{agent}/`` and
``results/evaluate_reference/``), so a workflow rule can build just one of them: restyling a figure re-runs that
rule only, never the scoring. ``--summary`` writes ``summary.json``, the comparisons that need more than one agent's
items (``games_summary``: each aligned agent against base, the theories and the reference rules); the paper's numbers
and targets read it as ``games/...``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from econalign.cli import add_config_arguments, config_from_args
from econalign.config import ConfigError
from econalign.evaluate.collect import load_results
from econalign.evaluate.comparisons import every_split, own_versus_other, reference_rules, versus_rules
from econalign.evaluate.figures import FIGURES, kappa_curve, save_figure
from econalign.evaluate.metrics import ALL, paired_gain
from econalign.evaluate.outputs import evaluated_agents, report_outputs
from econalign.evaluate.tables import TABLES
from econalign.io import MissingInputError, config_hash, write_json, write_text
from econalign.tables import latex_table, markdown_table

__all__ = ["add_arguments", "games_summary", "main", "report_games", "write_index"]

log = logging.getLogger(__name__)


def report_games(
    config: Mapping[str, Any],
    *,
    evaluations: str | Path,
    references: str | Path | None,
    out_dir: str | Path,
    tables: Sequence[str] | None = None,
    figures: Sequence[str] | None = None,
) -> list[Path]:
    """Write the requested tables and figures (default: all of ``report_outputs``).

    Args:
        config: The resolved configuration.
        evaluations: ``results/evaluate``.
        references: ``results/evaluate_reference``.
        out_dir: Output folder (``results/report_games``).
        tables: Table names (``TABLES``), or None for all.
        figures: Figure names (``FIGURES``), or None for those of ``report_outputs``.

    Returns:
        The paths written.

    Raises:
        ConfigError: An unknown table or figure name (a ValueError).
        MissingInputError: The evaluations or the reference rules' results are missing
            (:func:`econalign.evaluate.collect.load_results`).
    """
    wanted = report_outputs(config)
    tables = wanted["tables"] if tables is None else list(tables)
    figures = wanted["figures"] if figures is None else list(figures)
    unknown = sorted(set(tables) - set(TABLES)) + sorted(set(figures) - set(FIGURES))
    if unknown:
        raise ConfigError(f"unknown tables or figures {unknown}; tables: {list(TABLES)}, figures: {list(FIGURES)}")
    report, out_dir = config["report"], Path(out_dir)
    decimals = int(report["decimals"])
    results = load_results(evaluations, references, evaluated_agents(config), with_items=bool(figures))
    written: list[Path] = []
    for name in tables:
        header, rows, caption = TABLES[name](results, decimals=decimals)
        written.append(write_text(out_dir / f"{name}.md", markdown_table(header, rows)))
        latex = latex_table(header, rows, caption=caption, label=f"tab:games_{name}", small=True)
        written.append(write_text(out_dir / f"{name}.tex", latex))
    for name in figures:
        if name == "cooperation_vs_temptation":
            figure = FIGURES[name](results, bins=int(report["temptation_bins"]))
        elif name == "kappa_sweep":
            one = results.references[0] if results.references else results.agents[0]
            kappas = np.linspace(0.0, 1.0, int(report["kappa_points"]))
            margin = float(config["data"]["tie_margin"])
            curve = kappa_curve(results.items.filter(results.items["agent"] == one), kappas, min_margin=margin)
            figure = FIGURES[name](results, curve)
        else:
            figure = FIGURES[name](results)
        written += save_figure(figure, out_dir / name)
    for path in written:
        log.info("wrote %s", path)
    return written


def games_summary(
    config: Mapping[str, Any], evaluations: str | Path, references: str | Path | None = None
) -> dict[str, Any]:
    """Comparisons that need more than one agent's items: each aligned agent against base, the theories and the rules.

    Args:
        config: The resolved configuration.
        evaluations: ``results/evaluate`` (``base`` and every aligned agent).
        references: ``results/evaluate_reference`` (the reference rules); None leaves out the comparisons with them.

    Returns:
        ``{"gain_over_base", "own_versus_other", "versus_rules", "confidence", "seed", "config_hash"}``, for every
        configured agent with a theory and results:

        * ``gain_over_base[agent][split]``, per test split and pooled (``all``, consistency probes left out): the
          agent's agreement with its theory minus base's agreement with that theory on the same items
          (``econalign.evaluate.metrics.paired_gain``, clustered by decision problem: a problem posed twice, in other
          words or labels, is one cluster, not independent evidence; ``significant`` when the interval lies above 0);
        * ``own_versus_other[agent][split]`` (``econalign.evaluate.comparisons.own_versus_other``) per test split,
          and ``own_versus_other[agent]["every_test_split"]``: nearer its own theory in agreement and cooperation
          level on every one;
        * ``versus_rules[agent][split]`` (``econalign.evaluate.comparisons.versus_rules``), per test split and
          pooled: the agent's agreement with its theory minus each reference rule's, paired as above.
    """
    agents = [agent["name"] for agent in config["agents"]]
    results = load_results(evaluations, references, ["base", *agents])
    if "base" not in results.agents:
        raise MissingInputError(f"{Path(evaluations) / 'base'} holds no metrics.json: evaluate the base model first")
    if references is not None and not results.references:
        raise MissingInputError(f"{Path(references)} holds no metrics.json: score the reference rules first")
    confidence = float(config["evaluate"]["confidence"])
    items = results.items
    rules = reference_rules(results.references)
    reference_metrics = {name: results.metrics[name] for name in results.references}
    summary: dict[str, Any] = {"gain_over_base": {}}
    if results.references:
        summary.update(own_versus_other={}, versus_rules={})
    for agent in results.agents:
        theory = results.metrics[agent].get("own_theory")
        if agent == "base" or theory is None:
            continue
        summary["gain_over_base"][agent] = {}
        for split in [ALL, *results.test_splits]:
            splits = results.test_splits if split == ALL else [split]
            rows = items.filter(items["split"].is_in(splits))
            summary["gain_over_base"][agent][split] = paired_gain(
                rows.filter(rows["agent"] == agent),
                rows.filter(rows["agent"] == "base"),
                theory,
                confidence=confidence,
                cluster="game_key",
            )
            if results.references:
                summary["versus_rules"].setdefault(agent, {})[split] = versus_rules(
                    rows, agent, rules, theory, confidence=confidence
                )
        if results.references:
            nearer = {
                split: own_versus_other(results.metrics[agent], reference_metrics, split)
                for split in results.test_splits
            }
            every = every_split([nearer[split]["nearer_own"]["both"] for split in nearer])
            summary["own_versus_other"][agent] = {**nearer, "every_test_split": every}
    return {
        **summary,
        "confidence": confidence,
        "seed": config["seed"],
        "config_hash": config_hash(config),
    }


def write_index(config: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``index.md``: every table of the study inlined and every figure linked, in ``report_outputs`` order.

    Args:
        config: The resolved configuration.
        out_dir: The folder holding the tables and figures (``results/report_games``).

    Returns:
        The index path.
    """
    out_dir = Path(out_dir)
    wanted = report_outputs(config)
    missing = [f"{name}.md" for name in wanted["tables"] if not (out_dir / f"{name}.md").is_file()]
    if missing:
        raise MissingInputError(
            f"{out_dir} lacks {', '.join(missing)}: write the tables first (report-games without --index)"
        )
    parts = ["# Game battery\n"]
    for name in wanted["tables"]:
        parts.append(f"## {name.replace('_', ' ')}\n\n" + (out_dir / f"{name}.md").read_text(encoding="utf-8"))
    for name in wanted["figures"]:
        parts.append(f"## {name.replace('_', ' ')}\n\n![{name}]({name}.png) ([PDF]({name}.pdf))\n")
    return write_text(out_dir / "index.md", "\n".join(parts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign report-games``."""
    add_config_arguments(parser)
    parser.add_argument("--evaluations", metavar="DIR", required=True, help="per-agent results (results/evaluate)")
    parser.add_argument("--references", metavar="DIR", help="reference rules' results (results/evaluate_reference)")
    parser.add_argument("--out", metavar="DIR", required=True, help="output folder (results/report_games)")
    parser.add_argument("--tables", nargs="*", metavar="NAME", help=f"tables to write (default all: {list(TABLES)})")
    parser.add_argument(
        "--figures",
        nargs="*",
        metavar="NAME",
        help=(
            f"figures to write, of {list(FIGURES)} (default, when neither --tables nor --figures is given: the "
            "config's; kappa_sweep only with a kappa_grid)"
        ),
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--index", action="store_true", help="only write index.md from the existing tables/figures")
    only.add_argument(
        "--summary",
        action="store_true",
        help="only write summary.json (agents compared with base and, with --references, with the theories and rules)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``econalign report-games``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = config_from_args(args)
    if args.index:
        write_index(config, args.out)
        return 0
    if args.summary:
        summary = games_summary(config, args.evaluations, args.references)
        path = write_json(Path(args.out) / "summary.json", summary)
        log.info("wrote %s", path)
        return 0
    only_some = args.tables is not None or args.figures is not None
    report_games(
        config,
        evaluations=args.evaluations,
        references=args.references,
        out_dir=args.out,
        tables=(args.tables or []) if only_some else None,
        figures=(args.figures or []) if only_some else None,
    )
    return 0
