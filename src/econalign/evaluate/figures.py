"""Figures of the game battery, each a plain function of the collected results, saved as PNG and PDF.

Bytes are deterministic: the Agg backend, fixed fonts and sizes, and no time stamps or software versions in the
files' metadata, so a re-run writes identical files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from econalign.evaluate.benchmarks import benchmarks_for
from econalign.evaluate.collect import PROBE_PREFIX, Results, display_theory, grid_kappa
from econalign.evaluate.items import parse_counts
from econalign.evaluate.metrics import rate
from econalign.evaluate.predictions import analyse
from econalign.io import save_figure
from econalign.theory import HomoMoralis, game_from_params

__all__ = [
    "FIGURES",
    "agreement_by_split_figure",
    "cooperation_vs_temptation_figure",
    "kappa_curve",
    "kappa_sweep_figure",
    "save_figure",
]

STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "legend.fontsize": 7,
    "figure.dpi": 100,
    "svg.hashsalt": "econalign",
    "pdf.compression": 6,
}
_THEORY_STYLES = ("--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)))
# Published cooperation rates: colours outside the agents' C0, C1, ... cycle and the theories' dark grey.
_BENCHMARK_STYLES = (("0.55", "-."), ("#b8860b", (0, (6, 2))), ("#8b4789", (0, (1, 1))))
_FAMILY_ORDER = ("prisoners_dilemma", "stag_hunt", "chicken", "harmony", "coordination")


def _pooled(items: pl.DataFrame) -> pl.DataFrame:
    return items.filter(~pl.col("split").str.starts_with(PROBE_PREFIX))


def _binned(
    frame: pl.DataFrame, edges: np.ndarray, column: str = "coop_expected", *, confidence: float = 0.95
) -> tuple[np.ndarray, ...]:
    # Each bin's mean level with the metrics' interval (clipped t, clustered where a decision problem recurs).
    x = frame["x_temptation"].to_numpy()
    y = frame[column].to_numpy().astype(np.float64)
    clusters = frame["game_key"].to_numpy() if "game_key" in frame.columns else None
    index = np.clip(np.digitize(x, edges[1:-1]), 0, len(edges) - 2)
    centers, means, lows, highs = [], [], [], []
    for b in range(len(edges) - 1):
        in_bin = (index == b) & ~np.isnan(y)
        if not in_bin.any():
            continue
        summary = rate(
            y[in_bin], binary=False, confidence=confidence, clusters=None if clusters is None else clusters[in_bin]
        )
        centers.append(x[index == b].mean())
        means.append(summary["estimate"])
        # No interval (one item, or one decision problem): the bar spans everything a level can be.
        lows.append(0.0 if summary["low"] is None else summary["low"])
        highs.append(1.0 if summary["high"] is None else summary["high"])
    return np.array(centers), np.array(means), np.array(lows), np.array(highs)


def cooperation_vs_temptation_figure(results: Results, *, bins: int = 5) -> plt.Figure:
    """Cooperation against the temptation (T − R)/(T − S), one panel per 2×2 family, agents beside the theories.

    Agents' points are means of the probability-weighted cooperation level in temptation bins of equal item counts,
    with t intervals of the metrics' coverage (clipped to [0, 1]; clustered by decision problem where one recurs
    across the pooled splits); the theories' lines are the exact reference
    agents on the same items; published human and GPT-3.5 rates are marked on the prisoner's dilemma panel.

    Args:
        results: Collected results with items.
        bins: Temptation bins per family (quantiles of the family's items; fewer when values repeat).

    Returns:
        The figure.
    """
    items = _pooled(results.items).filter(pl.col("x_temptation").is_not_null() & pl.col("coop_expected").is_not_null())
    families = [f for f in _FAMILY_ORDER if f in set(items["family"].unique().to_list())]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, max(len(families), 1), figsize=(2.3 * max(len(families), 1) + 1.6, 2.6),
                                    sharey=True, squeeze=False, layout="constrained")  # fmt: skip
        for ax, family in zip(axes[0], families, strict=False):
            group = items.filter(pl.col("family") == family)
            x = group.filter(pl.col("agent") == group["agent"][0])["x_temptation"].to_numpy()
            edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
            if edges.size < 2:  # a single temptation value: one bin
                edges = np.array([x.min(), x.min() + 1.0])
            for k, agent in enumerate(results.agents):
                centers, means, lows, highs = _binned(
                    group.filter(pl.col("agent") == agent), edges, confidence=results.confidence
                )
                ax.errorbar(centers, means, yerr=[means - lows, highs - means], marker="o", markersize=3,
                            capsize=2, linewidth=1, color=f"C{k}", label=agent)  # fmt: skip
            for k, theory in enumerate(results.theories):
                rows = group.filter(pl.col("agent") == f"exact_{theory}")
                if rows.height:
                    centers, means, _, _ = _binned(rows, edges)
                    ax.plot(centers, means, color="0.25", linestyle=_THEORY_STYLES[k % len(_THEORY_STYLES)],
                            linewidth=1, label=f"theory: {display_theory(theory)}")  # fmt: skip
            for b, benchmark in enumerate(benchmarks_for(family)):
                # Benchmarks are told apart by colour and dash, not by dot spacing, which does not show at print size.
                color, dashes = _BENCHMARK_STYLES[b % len(_BENCHMARK_STYLES)]
                ax.axhline(benchmark.value, color=color, linewidth=1.0, linestyle=dashes,
                           label=f"{benchmark.population}, {benchmark.citation.split(',')[0]}")  # fmt: skip
            ax.set_title(family.replace("_", " "))
            ax.set_xlabel("temptation (T − R)/(T − S)")
            ax.set_ylim(-0.03, 1.03)
        axes[0][0].set_ylabel("cooperation")
        handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels(),
                                                                            strict=True)}  # fmt: skip
        figure.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False)
    return figure


def agreement_by_split_figure(results: Results, *, rules: Sequence[str] = ("first_listed", "random")) -> plt.Figure:
    """Agreement with each theory by test split: agents' bars with Wilson intervals, reference rules as markers.

    One panel per theory. Markers show the theory-ignoring-belief rule and the naive ``rules`` on the same items,
    the bar an agent has to clear.

    Args:
        results: Collected results (metrics only are needed).
        rules: Naive reference rules to mark.

    Returns:
        The figure.
    """
    splits = results.test_splits
    theories = results.theories
    agents = list(results.agents)
    width = 0.8 / max(len(agents), 1)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(theories), figsize=(3.2 * len(theories) + 1.6, 2.7), sharey=True,
                                    squeeze=False, layout="constrained")  # fmt: skip
        for ax, theory in zip(axes[0], theories, strict=True):
            positions = np.arange(len(splits))
            for k, agent in enumerate(agents):
                entries = [_choice(results.metrics[agent], split, theory) for split in splits]
                heights = np.array([e["estimate"] if e else np.nan for e in entries], dtype=np.float64)
                low = np.array([e["estimate"] - e["low"] if e else 0.0 for e in entries])
                high = np.array([e["high"] - e["estimate"] if e else 0.0 for e in entries])
                ax.bar(positions + (k - (len(agents) - 1) / 2) * width, heights, width, yerr=[low, high],
                       capsize=1.5, color=f"C{k}", label=agent, error_kw={"linewidth": 0.7})  # fmt: skip
            markers = {f"ignoring_belief_{theory}": "theory ignoring the belief", **{r: r for r in rules}}
            for m, (rule, label) in enumerate(markers.items()):
                if rule not in results.metrics:
                    continue
                values = [(_choice(results.metrics[rule], split, theory) or {}).get("estimate") for split in splits]
                ax.scatter(positions, [np.nan if v is None else v for v in values], marker="_x."[m % 3], s=60,
                           color="0.2", zorder=3, label=label)  # fmt: skip
            ax.set_xticks(positions, [s.removeprefix("test_") for s in splits])
            ax.set_title(f"agreement with {display_theory(theory)}")
            ax.set_ylim(0, 1.05)
        axes[0][0].set_ylabel("share of items")
        handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels(),
                                                                            strict=True)}  # fmt: skip
        figure.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False)
    return figure


def _choice(metrics: Mapping[str, Any], split: str, theory: str) -> dict[str, Any] | None:
    entry = metrics.get("agreement", {}).get(split, {}).get(theory, {}).get("all", {}).get("choice")
    return entry if entry and entry.get("estimate") is not None else None


def kappa_curve(items: pl.DataFrame, kappas: Sequence[float], *, min_margin: float) -> pl.DataFrame:
    """Homo moralis' cooperation level on the battery's items as a function of κ, by family.

    Args:
        items: Per-item rows of one agent (``family``, ``params``, ``belief_counts``, ``actions``, ``coop_levels``).
        kappas: κ values.
        min_margin: The dataset's tie rule.

    Returns:
        Columns ``kappa``, ``family``, ``cooperation`` (mean of the theory's cooperation level over items).
    """
    rows = []
    frame = _pooled(items).select("family", "params", "belief_counts", "actions", "coop_levels")
    for kappa in kappas:
        preference = HomoMoralis(kappa=float(kappa))
        levels: dict[str, list[float]] = {}
        for family, params, counts, actions, coop in frame.iter_rows():
            game = game_from_params(family, params)
            view = analyse(game, preference, parse_counts(counts), min_margin=min_margin)
            probs = np.array([view.probabilities[game.action_index(a)] for a in actions])
            levels.setdefault(family, []).append(float(probs @ np.asarray(coop)))
        rows += [{"kappa": float(kappa), "family": f, "cooperation": float(np.mean(v))} for f, v in levels.items()]
    return pl.DataFrame(rows)


def _own_kappa(results: Results, agent: str) -> float | None:
    metrics = results.metrics[agent]
    own = metrics.get("own_theory")
    theory = metrics.get("theories", {}).get(own) if own else None
    if theory and theory["preference"] == "moralis":
        return float(theory["kappa"])
    return grid_kappa(agent)


def kappa_sweep_figure(results: Results, curve: pl.DataFrame) -> plt.Figure:
    """Cooperation by family and agreement with the agent's own theory against κ, for the homo moralis agents.

    Args:
        results: Collected results; agents aligned to homo moralis (the κ grid's and others) are placed at their κ.
        curve: ``kappa_curve`` of the battery: the theory's cooperation as a function of κ, over every pooled item
            (an agent's point leaves out items whose reply did not parse or could not be scored).

    Returns:
        The figure.
    """
    grid = sorted((kappa, agent) for agent in results.agents if (kappa := _own_kappa(results, agent)) is not None)
    families = [f for f in _FAMILY_ORDER if f in set(curve["family"].to_list())] or sorted(curve["family"].unique())
    with plt.rc_context(STYLE):
        figure, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.7), layout="constrained")
        for k, family in enumerate(families):
            line = curve.filter(pl.col("family") == family).sort("kappa")
            left.plot(line["kappa"], line["cooperation"], color=f"C{k}", linewidth=1, linestyle="--")
            points = [(kappa, results.metrics[a]["cooperation"]["all"].get(family, {}).get("expected"))
                      for kappa, a in grid]  # fmt: skip
            points = [(kappa, e) for kappa, e in points if e and e.get("estimate") is not None]
            if points:
                xs = np.array([p[0] for p in points])
                ys = np.array([p[1]["estimate"] for p in points])
                lo = np.array([p[1]["low"] if p[1]["low"] is not None else p[1]["estimate"] for p in points])
                hi = np.array([p[1]["high"] if p[1]["high"] is not None else p[1]["estimate"] for p in points])
                left.errorbar(xs, ys, yerr=[ys - lo, hi - ys], marker="o", markersize=3, capsize=2, linestyle="none",
                              color=f"C{k}", label=family.replace("_", " "))  # fmt: skip
        left.set_xlabel("κ")
        left.set_ylabel("cooperation (dashed: theory)")
        left.set_ylim(-0.03, 1.03)
        left.legend(frameon=False)
        xs, ys, errs = [], [], []
        for kappa, agent in grid:
            entry = _choice(results.metrics[agent], "all", results.metrics[agent].get("own_theory") or agent)
            if entry:
                xs.append(kappa)
                ys.append(entry["estimate"])
                errs.append((entry["estimate"] - entry["low"], entry["high"] - entry["estimate"]))
        if xs:
            right.errorbar(xs, ys, yerr=np.array(errs).T, marker="o", markersize=3, capsize=2, color="C0")
        right.set_xlabel("κ of the agent")
        right.set_ylabel("agreement with its own theory")
        right.set_ylim(0, 1.05)
    return figure


FIGURES: dict[str, Callable[..., plt.Figure]] = {
    "cooperation_vs_temptation": cooperation_vs_temptation_figure,
    "agreement_by_split": agreement_by_split_figure,
    "kappa_sweep": kappa_sweep_figure,
}
"""Figure name -> builder; ``report-games`` writes ``{name}.png`` and ``{name}.pdf`` for each."""
