"""Markdown and LaTeX tables of the applications (AV swerve shares, pricing outcomes by pairing and alpha)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from econalign.applications.av import HUMAN_BENCHMARK
from econalign.applications.pairings import pairing_label
from econalign.stats import coverage_label
from econalign.tables import latex_table, markdown_table

__all__ = ["av_tables", "pricing_tables"]


Table = tuple[Sequence[str], Sequence[Sequence[str]], str, str]
"""Header, rows, caption and LaTeX label."""


def _tables(*tables: Table) -> tuple[str, str]:
    # Markdown (each table followed by its "Table:" caption line) and LaTeX of tables shown together.
    parts: list[str] = []
    for header, rows, caption, _ in tables:
        parts += [markdown_table(header, rows, align=False), f"Table: {caption}\n"]
    latex = [latex_table(header, rows, caption=caption, label=label) for header, rows, caption, label in tables]
    return "\n".join(parts), "\n".join(latex)


def _mean_se(mean: float, se: float | None) -> str:
    return f"{mean:.3f}" if se is None else f"{mean:.3f} ± {se:.3f}"


def _share(share: float, low: float, high: float) -> str:
    return f"{100 * share:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def av_tables(
    cells: pl.DataFrame,
    benchmark: pl.DataFrame,
    by_letter: pl.DataFrame,
    first_letter: Mapping[str, float],
    *,
    agents: Sequence[str],
    confidence: float = 0.95,
) -> tuple[str, str]:
    """Swerve shares by agent, k and n (Wilson intervals), the human-benchmark comparison and the letter order.

    Args:
        cells: ``av.swerve_by_cell`` by agent, n_passengers, n_pedestrians.
        benchmark: ``av.swerve_by_cell`` of the benchmark cell (agent rows) in the benchmark framing.
        by_letter: ``av.swerve_by_cell`` by agent and swerve_label: every scenario is posed with the swerve option
            under each letter, so an agent that always answers one letter swerves in half the scenarios whatever
            it weighs; this table shows it.
        first_letter: Agent -> ``av.first_label_share`` (the share of answers naming A, the first listed letter).
        agents: Row order.
        confidence: Coverage of the intervals in ``cells``, ``benchmark`` and ``by_letter`` (for the captions).

    Returns:
        ``(markdown, latex)``.
    """
    pedestrians = sorted(cells["n_pedestrians"].unique().to_list())
    header = ["agent", "k", *[f"n = {n}" for n in pedestrians]]
    rows = []
    for agent in agents:
        part = cells.filter(pl.col("agent") == agent)
        for k in sorted(part["n_passengers"].unique().to_list()):
            by_n = {r["n_pedestrians"]: r for r in part.filter(pl.col("n_passengers") == k).iter_rows(named=True)}
            rows.append(
                [agent, str(k)]
                + [
                    _share(by_n[n]["swerve_share"], by_n[n]["ci_low"], by_n[n]["ci_high"]) if n in by_n else ""
                    for n in pedestrians
                ]
            )
    bench = HUMAN_BENCHMARK
    bench_header = [
        "agent",
        f"swerve share (k = {bench.n_passengers}, n = {bench.n_pedestrians}, {bench.framing})",
        "mean P(swerve)",
    ]
    bench_rows = [
        [r["agent"], _share(r["swerve_share"], r["ci_low"], r["ci_high"]), f"{r['mean_p_swerve']:.2f}"]
        for r in benchmark.iter_rows(named=True)
    ]
    bench_rows.append(["humans", f"{100 * bench.share:.0f}%", ""])
    caption = (
        "Autonomous-vehicle dilemmas: share of scenarios in which the agent prefers to swerve (kill its k passengers "
        f"rather than n pedestrians), over framings, paraphrases and letter orders; {coverage_label(confidence)} "
        "Wilson intervals, clustered by decision problem (n, k and framing)."
    )
    bench_caption = f"Human benchmark: {bench.citation}"
    letters = sorted(by_letter["swerve_label"].unique().to_list())
    letter_header = ["agent", *[f"swerve share, swerve is {label}" for label in letters], "picks A"]
    letter_rows = []
    for agent in agents:
        by_label = {r["swerve_label"]: r for r in by_letter.filter(pl.col("agent") == agent).iter_rows(named=True)}
        if not by_label:
            continue
        letter_rows.append([
            agent,
            *[_share(r["swerve_share"], r["ci_low"], r["ci_high"]) if (r := by_label.get(label)) else ""
              for label in letters],
            f"{100 * first_letter[agent]:.0f}%",
        ])  # fmt: skip
    letter_caption = (
        f"Letter order: swerve share when the swerve option carries each letter ({coverage_label(confidence)} Wilson "
        "intervals, clustered by decision problem) and the share of answers naming A, the first listed letter. "
        + (
            "An agent that always names one letter swerves in half the scenarios."
            if len(letters) > 1
            else "Every scenario had the swerve option under one letter, so letter bias and preference are confounded."
        )
    )
    return _tables(
        (header, rows, caption, "tab:av"),
        (bench_header, bench_rows, bench_caption, "tab:av-benchmark"),
        (letter_header, letter_rows, letter_caption, "tab:av-letters"),
    )


def pricing_tables(
    table: pl.DataFrame, benchmarks: Mapping[float, Mapping[str, Any]], *, reference_kappa: float
) -> tuple[str, str]:
    """Outcomes by pairing and alpha, and the theory's benchmark prices.

    Args:
        table: ``pricing_metrics.pairing_table``.
        benchmarks: alpha -> ``pricing_metrics.market_benchmarks``.
        reference_kappa: kappa of the moralis benchmark column.

    Returns:
        ``(markdown, latex)``.
    """
    header = ["pairing", "α", "mean price", "price index", "Δ", "Δ firm 1", "Δ firm 2", "converged", "price wars",
              "same top price"]  # fmt: skip
    rows = [
        [
            pairing_label(r["pairing"]),
            f"{r['alpha']:g}",
            _mean_se(r["mean_price"], r["mean_price_se"]),
            f"{r['price_index']:.2f}",
            f"{r['profit_gain']:.2f}",
            f"{r['profit_gain_firm0']:.2f}",
            f"{r['profit_gain_firm1']:.2f}",
            f"{100 * r['converged_share']:.0f}%",
            f"{r['price_wars']:.1f}",
            "–" if r["top_price_share"] is None else f"{100 * r['top_price_share']:.0f}%",
        ]
        for r in table.iter_rows(named=True)
    ]
    bench_header = ["α", "Nash price", f"moralis price (κ = {reference_kappa:g})", "monopoly price"]
    bench_rows = [
        [
            f"{alpha:g}",
            f"{b['nash_price']:.4f}",
            f"{b['moralis_price'][float(reference_kappa)]:.4f}",
            f"{b['monopoly_price']:.4f}",
        ]
        for alpha, b in sorted(benchmarks.items())
    ]
    caption = (
        "Repeated duopoly pricing over the final periods: mean price (± its standard error over episodes, when "
        "there are several), price index (0 = Bertrand-Nash, 1 = monopoly), profit gain Δ (Calvano et al. 2020), "
        "share of episodes whose prices settled, price wars per episode; and, over whole episodes, how often a "
        "language-model firm rates its most common top price most likely (100% = whatever the market shows; – for "
        "reference pricers)."
    )
    bench_caption = "Theory benchmark prices of the logit market at each currency scale α."
    return _tables(
        (header, rows, caption, "tab:pricing"), (bench_header, bench_rows, bench_caption, "tab:pricing-benchmarks")
    )
