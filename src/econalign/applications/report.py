"""Tables, figures and key numbers of both applications (``econalign report-applications``).

Reads ``results/av/{agent}.parquet`` for every evaluated agent and ``results/pricing/{pairing}.parquet`` for every
planned pairing, and writes to ``--out``:

* ``av.md``, ``av.tex``, ``av_swerve.png``/``.pdf``, ``av_cells.parquet`` (swerve shares by agent, k and n);
* ``pricing.md``, ``pricing.tex``, ``pricing_paths.png``/``.pdf``, ``pricing_gain.png``/``.pdf``,
  ``pricing_metrics.parquet`` (by pairing and alpha) and ``pricing_firms.parquet`` (by firm and episode);
* ``summary.json``: the numbers the paper quotes (schema: ``summarize_av`` and ``summarize_pricing``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from econalign.applications.av import (
    HUMAN_BENCHMARK,
    AVScenario,
    agent_preference,
    decision_problem,
    first_label_share,
    swerve_by_cell,
    theory_action,
)
from econalign.applications.pairings import pairing_name, pricing_pairings, split_pairing
from econalign.applications.pricing_metrics import (
    episode_metrics,
    episode_prices,
    firm_metrics,
    market_benchmarks,
    market_from_config,
    pairing_table,
)
from econalign.stats import (
    clustered_mean_interval,
    clustered_wilson_bounds,
    difference_interval,
    logit_slope,
    normal_critical_value,
)
from econalign.theory.preferences import HomoMoralis

__all__ = ["add_arguments", "alpha_key", "main", "report_applications", "summarize_av", "summarize_pricing"]

logger = logging.getLogger(__name__)


def alpha_key(alpha: float) -> str:
    """JSON key of a currency scale (``"1"``, ``"3.2"``, ``"10"``).

    Example:
        >>> alpha_key(3.2), alpha_key(10.0)
        ('3.2', '10')
    """
    return f"{float(alpha):g}"


def _share_record(part: pl.DataFrame, *, confidence: float) -> dict[str, Any]:
    # Swerve share with its Wilson interval, clustered by decision problem (paraphrases and letter orders repeat one).
    swerved = (part["choice"] == "swerve").cast(pl.Float64).to_numpy()
    low, high = clustered_wilson_bounds(swerved, part.select(decision_problem())["problem"], confidence=confidence)
    return {
        "items": part.height,
        "swerve_share": float(swerved.mean()) if part.height else None,
        "ci_low": low,
        "ci_high": high,
        "mean_p_swerve": float(part["p_swerve"].mean()) if part.height else None,
    }


def _agreement(part: pl.DataFrame, column: str) -> float | None:
    posed = part.filter(pl.col(column).is_not_null())
    return float((posed["choice"] == posed[column]).mean()) if posed.height else None


def _paired_gap(scores: pl.DataFrame, first: Sequence[str], second: Sequence[str]) -> dict[str, float | int]:
    """Mean over scenarios of P(swerve) averaged over ``first`` minus over ``second``, with a clustered SE.

    The standard error is clustered by decision problem: a scenario's paraphrases and letter orders pose it again.
    """

    def mean_p(agents: Sequence[str]) -> pl.DataFrame:
        part = scores.filter(pl.col("agent").is_in(list(agents)))
        return part.group_by("id").agg(pl.col("p_swerve").mean(), decision_problem().first())

    paired = mean_p(first).join(mean_p(second), on="id", suffix="_other").sort("id")
    diff = (paired["p_swerve"] - paired["p_swerve_other"]).to_numpy()
    interval = clustered_mean_interval(diff, paired["problem"].to_list())
    se = float("nan") if interval["se"] is None else interval["se"]
    return {"gap": float(diff.mean()), "se": se, "n": int(diff.size), "problems": interval["clusters"]}


def summarize_av(scores: pl.DataFrame, *, agents: Sequence[str], config: Mapping[str, Any]) -> dict[str, Any]:
    """Key AV numbers per agent and the comparisons the paper states.

    Per agent: ``preference``, ``kappa``, ``items``, ``swerve_share`` with ``ci_low``/``ci_high`` and
    ``mean_p_swerve``; ``benchmark_cell`` (k = 1, n = 10 in the human benchmark's framing); ``agreement``
    (share of argmax choices equal to the theory's answer: ``own`` preference, ``economicus``, ``moralis`` at
    ``reference_kappa``; items without a prediction skipped); ``ratio_slope`` (fractional logit of P(swerve) on
    log(n/k)); ``share_choosing_A`` (letter bias); ``by_framing`` (swerve share per framing). Intervals and
    standard errors are clustered by decision problem (``av.decision_problem``: n, k and framing; a scenario's
    paraphrases and letter orders pose it again): clustered Wilson intervals for shares, the cluster-robust
    sandwich for the slope and the gap.
    Intervals have the study's coverage (``evaluate.confidence``) and the findings test at that level, one-sided
    against the two-sided critical value z (1.96 at 0.95), as the intervals would:
    ``findings``: ``moralis_swerves_more_as_ratio_grows`` per moralis agent (slope > z SE);
    ``moralis_minus_economicus_p_swerve`` (``gap``, ``se``, ``n``, ``problems``: the mean over scenarios of
    moralis agents' P(swerve) minus economicus agents', paired by scenario, since every agent faces the same
    scenarios; ``n`` scenarios, ``problems`` clusters) and
    ``moralis_swerves_more_than_economicus`` (that gap above z SE), both null if either kind of agent is
    absent; ``critical_value`` (z); ``base_benchmark_share`` next to ``human_share``.
    """
    confidence = float(config["evaluate"]["confidence"])
    critical = normal_critical_value(confidence)
    records: dict[str, Any] = {}
    bench = HUMAN_BENCHMARK
    for agent in agents:
        part = scores.filter(pl.col("agent") == agent)
        preference = agent_preference(config, agent)
        cell = part.filter(
            (pl.col("n_pedestrians") == bench.n_pedestrians)
            & (pl.col("n_passengers") == bench.n_passengers)
            & (pl.col("framing") == bench.framing)
        )
        ratio = np.log(part["n_pedestrians"].to_numpy() / part["n_passengers"].to_numpy())
        problems = part.select(decision_problem())["problem"].to_list()
        slope = logit_slope(ratio, part["p_swerve"].to_numpy(), clusters=problems)
        records[agent] = {
            "preference": None if preference is None else preference.name,
            "kappa": None if preference is None else float(preference.kappa),
            **_share_record(part, confidence=confidence),
            "benchmark_cell": _share_record(cell, confidence=confidence),
            "agreement": {
                "own": _agreement(part, "predicted_action") if preference is not None else None,
                "economicus": _agreement(part, "economicus_action"),
                "moralis": _agreement(part, "moralis_action"),
            },
            "ratio_slope": {"slope": slope.slope, "se": slope.slope_se, "n": slope.n},
            "share_choosing_A": first_label_share(part),
            "by_framing": {
                row["framing"]: row["swerve_share"]
                for row in swerve_by_cell(part, by=("framing",), confidence=confidence).iter_rows(named=True)
            },
        }
    moralis = [a for a in agents if records[a]["preference"] == "moralis"]
    economicus = [a for a in agents if records[a]["preference"] == "economicus"]
    gap = _paired_gap(scores, moralis, economicus) if moralis and economicus else None
    findings = {
        "moralis_swerves_more_as_ratio_grows": {
            a: bool(records[a]["ratio_slope"]["slope"] > critical * records[a]["ratio_slope"]["se"]) for a in moralis
        },
        "moralis_minus_economicus_p_swerve": gap,
        "moralis_swerves_more_than_economicus": None if gap is None else bool(gap["gap"] > critical * gap["se"]),
        "critical_value": critical,
        "base_benchmark_share": records["base"]["benchmark_cell"]["swerve_share"] if "base" in records else None,
        "human_share": bench.share,
    }
    return {
        "human_benchmark": {
            "share": bench.share,
            "n_pedestrians": bench.n_pedestrians,
            "n_passengers": bench.n_passengers,
            "framing": bench.framing,
            "citation": bench.citation,
        },
        "reference_kappa": float(config["av"]["reference_kappa"]),
        "agents": records,
        "findings": findings,
    }


def summarize_pricing(
    table: pl.DataFrame,
    benchmarks: Mapping[float, Mapping[str, Any]],
    *,
    firms: pl.DataFrame,
    agents: Sequence[str],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """Key pricing numbers: settings, theory benchmarks, outcomes per pairing and alpha, and the comparisons.

    ``benchmarks[alpha]``: ``nash_price``, ``monopoly_price``, ``moralis_price`` (kappa -> price), ``grid``.
    ``pairings[pairing][alpha]``: the columns of ``pricing_metrics.pairing_table``. ``findings``:
    ``self_play`` (agent -> alpha -> ``price_index``, ``profit_gain``, ``mean_price``, ``mean_price_se``,
    ``top_price_share``);
    ``moralis_minus_economicus_price`` (alpha -> ``stats.difference_interval`` of the self-play episodes' mean
    market prices at the study's coverage, ``evaluate.confidence``, moralis agents' episodes pooled against
    economicus agents'; the episodes are the independent replications); ``moralis_above_economicus`` (alpha ->
    that interval lies above 0, ``all`` over alphas; null with fewer than two episodes a side, or if either kind
    of agent is absent); ``base_self_play`` (alpha -> ``price_index``, ``profit_gain``, ``mean_price``,
    ``mean_price_se``, ``top_price_share``).
    """
    pricing = config["pricing"]
    confidence = float(config["evaluate"]["confidence"])
    pairings: dict[str, dict[str, Any]] = {}
    for row in table.iter_rows(named=True):
        values = {k: v for k, v in row.items() if k not in ("pairing", "alpha")}
        pairings.setdefault(row["pairing"], {})[alpha_key(row["alpha"])] = values
    preferences = {a: agent_preference(config, a) for a in agents}
    self_play = {a: pairings.get(pairing_name(a, a), {}) for a in agents}
    moralis = [a for a in agents if preferences[a] is not None and preferences[a].name == "moralis" and self_play[a]]
    economicus = [
        a for a in agents if preferences[a] is not None and preferences[a].name == "economicus" and self_play[a]
    ]
    above: dict[str, Any] | None = None
    gaps: dict[str, Any] | None = None
    if moralis and economicus:
        prices = episode_prices(firms)

        def self_play_prices(names: Sequence[str], alpha: float) -> np.ndarray:
            self_play = pl.col("pairing").is_in([pairing_name(a, a) for a in names])
            chosen = prices.filter(self_play & (pl.col("alpha") == alpha))
            return chosen["mean_price"].to_numpy()

        gaps = {
            alpha_key(alpha): difference_interval(
                self_play_prices(moralis, alpha), self_play_prices(economicus, alpha), confidence=confidence
            )
            for alpha in sorted(benchmarks)
        }
        above = {key: None if gap["low"] is None else bool(gap["low"] > 0) for key, gap in gaps.items()}
        # One scale missed decides "all"; otherwise an unmeasured scale leaves it unmeasured.
        verdicts = list(above.values())
        above["all"] = False if False in verdicts else None if None in verdicts else True
    project = ("price_index", "profit_gain", "mean_price", "mean_price_se", "top_price_share")
    return {
        "settings": {
            k: pricing[k] for k in ("periods", "episodes", "history", "temperature", "metric_window", "label_order")
        },
        "benchmarks": {
            alpha_key(alpha): {
                "nash_price": b["nash_price"],
                "monopoly_price": b["monopoly_price"],
                "moralis_price": {f"{k:g}": p for k, p in b["moralis_price"].items()},
                "grid": b["grid"],
            }
            for alpha, b in sorted(benchmarks.items())
        },
        "pairings": pairings,
        "findings": {
            "self_play": {a: {al: {k: v[k] for k in project} for al, v in self_play[a].items()} for a in agents},
            "moralis_minus_economicus_price": gaps,
            "moralis_above_economicus": above,
            "base_self_play": {al: {k: v[k] for k in project} for al, v in self_play.get("base", {}).items()},
        },
    }


def report_applications(config: Mapping[str, Any], *, av_dir: Path, pricing_dir: Path, out: Path) -> dict[str, Any]:
    """Write every table, figure and the summary of both applications.

    Args:
        config: The resolved configuration (``av``, ``pricing`` and agents).
        av_dir: Folder of ``{agent}.parquet`` from ``econalign av``.
        pricing_dir: Folder of ``{pairing}.parquet`` from ``econalign pricing``.
        out: Output folder.

    Returns:
        The summary written to ``summary.json``.

    Raises:
        MissingInputError: An agent's AV results or a pairing's pricing log is missing; nothing is written then.
    """
    from econalign.applications import figures, tables
    from econalign.applications.pricing_agents import market_grid
    from econalign.io import provenance, write_json, write_parquet, write_text

    agents = ["base", *[agent["name"] for agent in config["agents"]]]
    pricing = config["pricing"]
    references = list(pricing["reference_opponents"])
    av_dir, pricing_dir = Path(av_dir), Path(pricing_dir)
    pairings = pricing_pairings(agents, pricing)
    _require(av_dir, agents, "run the av rule first (econalign av --agent AGENT)")
    _require(pricing_dir, pairings, "run the pricing rule first (econalign pricing --pairing PAIRING)")

    scores = pl.concat([pl.read_parquet(av_dir / f"{agent}.parquet") for agent in agents])
    confidence = float(config["evaluate"]["confidence"])
    cells = swerve_by_cell(scores, confidence=confidence)
    bench = HUMAN_BENCHMARK
    bench_cells = swerve_by_cell(
        scores.filter(
            (pl.col("n_pedestrians") == bench.n_pedestrians)
            & (pl.col("n_passengers") == bench.n_passengers)
            & (pl.col("framing") == bench.framing)
        ),
        by=("agent",),
        confidence=confidence,
    )
    order = {agent: i for i, agent in enumerate(agents)}
    bench_cells = bench_cells.sort(pl.col("agent").replace_strict(order, return_dtype=pl.Int64))
    write_parquet(out / "av_cells.parquet", cells)
    av_summary = summarize_av(scores, agents=agents, config=config)
    by_letter = swerve_by_cell(scores, by=("agent", "swerve_label"), confidence=confidence)
    first_letter = {agent: record["share_choosing_A"] for agent, record in av_summary["agents"].items()}
    av_md, av_tex = tables.av_tables(cells, bench_cells, by_letter, first_letter, agents=agents, confidence=confidence)
    write_text(out / "av.md", av_md)
    write_text(out / "av.tex", av_tex)
    reference_kappa = float(config["av"]["reference_kappa"])
    tie_margin = float(config["data"]["tie_margin"])

    def moralis_prediction(n: int, k: int) -> str | None:
        return theory_action(
            AVScenario("", n, k, "", 0, "A"), HomoMoralis(kappa=reference_kappa), min_margin=tie_margin
        )

    figures.save_figure(
        figures.av_figure(cells, agents=agents, moralis_prediction=moralis_prediction, reference_kappa=reference_kappa),
        out / "av_swerve",
    )

    log = pl.concat([pl.read_parquet(pricing_dir / f"{pairing}.parquet") for pairing in pairings])
    window = int(pricing["metric_window"])
    firms = firm_metrics(log, pricing_config=pricing, window=window)
    episodes = episode_metrics(log, window=window, price_war_length=int(pricing["price_war_length"]))
    table = pairing_table(firms, episodes)
    kappas = tuple(sorted({float(pricing["reference_kappa"])} | {float(a.get("kappa", 0.0)) for a in config["agents"]}))
    benchmarks = {}
    for alpha in pricing["alphas"]:
        market = market_from_config(pricing, alpha)
        benchmarks[float(alpha)] = {
            **market_benchmarks(market, kappas=kappas),
            "grid": market_grid(market, int(pricing["grid_size"])).tolist(),
        }
    write_parquet(out / "pricing_metrics.parquet", table)
    write_parquet(out / "pricing_firms.parquet", firms)
    pricing_md, pricing_tex = tables.pricing_tables(
        table, benchmarks, reference_kappa=float(pricing["reference_kappa"])
    )
    write_text(out / "pricing.md", pricing_md)
    write_text(out / "pricing.tex", pricing_tex)
    paths = (
        log.filter(pl.col("period") >= 1)
        .group_by(["pairing", "alpha", "period"])
        .agg(pl.col("price").mean())
        .sort(["pairing", "alpha", "period"])
    )
    self_play = [pairing_name(name, name) for name in [*agents, *references] if pairing_name(name, name) in pairings]
    figures.save_figure(
        figures.pricing_paths_figure(
            paths, benchmarks, pairings=self_play, reference_kappa=float(pricing["reference_kappa"])
        ),
        out / "pricing_paths",
    )
    players = list(dict.fromkeys(name for pairing in pairings for name in split_pairing(pairing)))
    figures.save_figure(figures.pricing_gain_figure(firms, players=players), out / "pricing_gain")

    summary = {
        "av": av_summary,
        "pricing": summarize_pricing(table, benchmarks, firms=firms, agents=agents, config=config),
        "provenance": {k: v for k, v in provenance(config).items() if k in ("config_hash", "seed")},
    }
    write_json(out / "summary.json", summary)
    return summary


def _require(folder: Path, names: Sequence[str], remedy: str) -> None:
    """Raise MissingInputError naming ``folder`` or the first ``{name}.parquet`` files missing from it."""
    from econalign.io import MissingInputError

    if not folder.is_dir():
        raise MissingInputError(f"{folder} does not exist: {remedy}")
    missing = [f"{name}.parquet" for name in names if not (folder / f"{name}.parquet").is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise MissingInputError(f"{folder} lacks {shown}: {remedy}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign report-applications``."""
    from econalign.cli import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--av", required=True, type=Path, help="folder of AV results (results/av)")
    parser.add_argument("--pricing", required=True, type=Path, help="folder of pricing logs (results/pricing)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (results/report_applications)")


def main(args: argparse.Namespace) -> int:
    """Run ``econalign report-applications``."""
    from econalign.cli import config_from_args

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = config_from_args(args)
    report_applications(config, av_dir=args.av, pricing_dir=args.pricing, out=args.out)
    return 0
