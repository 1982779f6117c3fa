"""Figures of the applications, written as PNG and PDF with deterministic bytes (Agg, no timestamps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from econalign.applications.av import HUMAN_BENCHMARK
from econalign.applications.pairings import pairing_label
from econalign.io import save_figure

__all__ = ["av_figure", "pricing_gain_figure", "pricing_paths_figure", "save_figure"]

_STYLE = {"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7, "figure.dpi": 100, "svg.hashsalt": "econalign"}


def av_figure(
    cells: pl.DataFrame,
    *,
    agents: Sequence[str],
    moralis_prediction: Callable[[int, int], str | None],
    reference_kappa: float,
) -> plt.Figure:
    """Swerve share against the number of pedestrians, one panel per number of passengers.

    Args:
        cells: ``av.swerve_by_cell`` by agent, n_passengers, n_pedestrians.
        agents: Line order.
        moralis_prediction: ``(n, k) -> "stay" | "swerve" | None`` of homo moralis at ``reference_kappa``.
        reference_kappa: kappa of the theory markers.

    Returns:
        The figure.
    """
    with plt.rc_context(_STYLE):
        passengers = sorted(cells["n_passengers"].unique().to_list())
        pedestrians = sorted(cells["n_pedestrians"].unique().to_list())
        figure, axes = plt.subplots(
            1,
            len(passengers),
            figsize=(2.4 * len(passengers) + 2.0, 2.6),
            sharey=True,
            squeeze=False,
            layout="constrained",
        )
        positions = {n: i for i, n in enumerate(pedestrians)}
        for ax, k in zip(axes[0], passengers, strict=True):
            for offset, agent in enumerate(agents):
                part = cells.filter((pl.col("agent") == agent) & (pl.col("n_passengers") == k)).sort("n_pedestrians")
                x = np.array([positions[n] for n in part["n_pedestrians"]]) + 0.06 * (offset - (len(agents) - 1) / 2)
                share = part["swerve_share"].to_numpy()
                errors = np.vstack([share - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - share])
                ax.errorbar(x, share, yerr=errors, marker="o", markersize=3, capsize=2, linewidth=1, label=agent)
            ax.plot(
                range(len(pedestrians)),
                [0.0] * len(pedestrians),
                color="0.4",
                linestyle=":",
                linewidth=0.9,
                label="economicus (theory)",
            )
            # Homo moralis: swerve (1) or stay (0); near-ties (kappa n = k, or within the tie rule's margin) have no
            # prediction and no marker.
            predictions = [(positions[n], moralis_prediction(n, k)) for n in pedestrians]
            posed = [(x, 1.0 if action == "swerve" else 0.0) for x, action in predictions if action is not None]
            ax.plot(
                [x for x, _ in posed],
                [y for _, y in posed],
                marker="s",
                markersize=7,
                markerfacecolor="none",
                markeredgecolor="0.3",
                linestyle="none",
                label=f"moralis κ={reference_kappa:g} (theory)",
            )
            if k == HUMAN_BENCHMARK.n_passengers and HUMAN_BENCHMARK.n_pedestrians in positions:
                ax.plot(
                    [positions[HUMAN_BENCHMARK.n_pedestrians]],
                    [HUMAN_BENCHMARK.share],
                    marker="*",
                    color="black",
                    markersize=8,
                    linestyle="none",
                    label="humans (Bonnefon et al. 2016)",
                )
            ax.set_xticks(range(len(pedestrians)), [str(n) for n in pedestrians])
            ax.set_xlabel("pedestrians n")
            ax.set_title(f"k = {k} passenger{'s' if k > 1 else ''}")
            ax.set_ylim(-0.05, 1.05)
        axes[0][0].set_ylabel("share preferring to swerve")
        handles, labels = axes[0][0].get_legend_handles_labels()
        for ax in axes[0][1:]:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        figure.legend(handles, labels, loc="outside right center", frameon=False)
    return figure


_PATH_MARKERS = ("o", "s", "^", "v", "D", "x", "+", "*")
_MARK_EVERY = 4


def pricing_paths_figure(
    paths: pl.DataFrame,
    benchmarks: Mapping[float, Mapping[str, Any]],
    *,
    pairings: Sequence[str],
    reference_kappa: float,
) -> plt.Figure:
    """Mean market price per period for self-play pairings, one panel per alpha, with the theory's prices.

    Args:
        paths: Columns pairing, alpha, period, price (mean over firms and episodes).
        benchmarks: alpha -> ``pricing_metrics.market_benchmarks``.
        pairings: Pairings to draw.
        reference_kappa: kappa of the moralis line.

    Returns:
        The figure.
    """
    with plt.rc_context(_STYLE):
        alphas = sorted(benchmarks)
        figure, axes = plt.subplots(
            1, len(alphas), figsize=(2.6 * len(alphas) + 1.8, 2.6), squeeze=False, layout="constrained"
        )
        for ax, alpha in zip(axes[0], alphas, strict=True):
            for k, pairing in enumerate(pairings):
                part = paths.filter((pl.col("pairing") == pairing) & (pl.col("alpha") == alpha)).sort("period")
                # Reference pricers often share a path (tit-for-tat and monopoly both hold the monopoly price):
                # markers at staggered periods keep every line visible where lines coincide.
                ax.plot(part["period"], part["price"], linewidth=1, label=pairing_label(pairing),
                        marker=_PATH_MARKERS[k % len(_PATH_MARKERS)], markersize=3,
                        markevery=(k % _MARK_EVERY, _MARK_EVERY))  # fmt: skip
            b = benchmarks[alpha]
            ax.axhline(b["nash_price"], color="0.3", linestyle="--", linewidth=0.8, label="Nash")
            ax.axhline(
                b["moralis_price"][float(reference_kappa)],
                color="0.3",
                linestyle=":",
                linewidth=0.8,
                label=f"moralis κ={reference_kappa:g}",
            )
            ax.axhline(b["monopoly_price"], color="0.3", linestyle="-.", linewidth=0.8, label="monopoly")
            ax.set_title(f"α = {alpha:g}")
            ax.set_xlabel("period")
        axes[0][0].set_ylabel("mean price")
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside right center", frameon=False)
    return figure


def pricing_gain_figure(firms: pl.DataFrame, *, players: Sequence[str]) -> plt.Figure:
    """Profit gain of each firm (rows) against each rival (columns), one heatmap per alpha.

    Args:
        firms: ``pricing_metrics.firm_metrics``.
        players: Row and column order.

    Returns:
        The figure.
    """
    with plt.rc_context(_STYLE):
        gains = firms.group_by(["alpha", "agent", "rival"]).agg(pl.col("profit_gain").mean())
        alphas = sorted(gains["alpha"].unique().to_list())
        size = len(players)
        figure, axes = plt.subplots(
            1,
            len(alphas),
            figsize=(0.45 * size * len(alphas) + 1.6, 0.45 * size + 1.2),
            squeeze=False,
            layout="constrained",
        )
        image = None
        for ax, alpha in zip(axes[0], alphas, strict=True):
            matrix = np.full((size, size), np.nan)
            for row in gains.filter(pl.col("alpha") == alpha).iter_rows(named=True):
                if row["agent"] in players and row["rival"] in players:
                    matrix[players.index(row["agent"]), players.index(row["rival"])] = row["profit_gain"]
            image = ax.imshow(matrix, cmap="viridis", vmin=-0.5, vmax=1.5)
            for i in range(size):
                for j in range(size):
                    if np.isfinite(matrix[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{matrix[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=5,
                            color="white" if matrix[i, j] < 0.5 else "black",
                        )
            ax.set_xticks(range(size), players, rotation=60, ha="right")
            ax.set_yticks(range(size), players if ax is axes[0][0] else [""] * size)
            ax.set_title(f"α = {alpha:g}")
            ax.set_xlabel("rival")
        axes[0][0].set_ylabel("firm")
        if image is not None:
            figure.colorbar(image, ax=list(axes[0]), label="profit gain Δ", shrink=0.8)
    return figure
