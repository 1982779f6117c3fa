"""Outcome measures of the repeated duopoly, computed from per-period logs.

Over the last ``window`` periods of each episode: mean price and profit, the price index relative to the
Bertrand-Nash and monopoly prices, Calvano's profit gain Delta (``LogitDuopoly.profit_gain``), how often prices
changed and whether they settled; over the whole episode: price wars (runs of falling market prices).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from econalign.theory.market import LogitDuopoly

__all__ = [
    "episode_metrics",
    "episode_prices",
    "firm_metrics",
    "market_benchmarks",
    "market_from_config",
    "pairing_table",
    "price_index",
    "price_wars",
    "profit_gain",
    "settled_since",
]


def market_from_config(pricing_config: Mapping[str, Any], alpha: float) -> LogitDuopoly:
    """The market of the ``pricing`` config section at currency scale ``alpha``."""
    return _market(float(alpha), tuple(sorted((k, float(v)) for k, v in pricing_config["market"].items())))


@functools.lru_cache(maxsize=64)
def _market(alpha: float, parameters: tuple[tuple[str, float], ...]) -> LogitDuopoly:
    return LogitDuopoly(alpha=alpha, **dict(parameters))


@functools.lru_cache(maxsize=256)
def market_benchmarks(market: LogitDuopoly, *, kappas: tuple[float, ...] = ()) -> dict[str, Any]:
    """Benchmark prices and per-firm profits of a market (theory), cached.

    Args:
        market: The market.
        kappas: Degrees of morality whose symmetric equilibrium prices to include.

    Returns:
        ``nash_price``, ``monopoly_price``, ``nash_profit``, ``monopoly_profit`` and ``moralis_price``
        (``{kappa: price}``).
    """
    nash, monopoly = market.nash_price(), market.monopoly_price()
    return {
        "nash_price": nash,
        "monopoly_price": monopoly,
        "nash_profit": market.profit(nash, nash),
        "monopoly_profit": market.profit(monopoly, monopoly),
        "moralis_price": {float(kappa): market.moralis_price(float(kappa)) for kappa in kappas},
    }


def profit_gain(profit: float, market: LogitDuopoly) -> float:
    """Calvano's profit gain of a per-firm profit, ``LogitDuopoly.profit_gain`` with its benchmarks solved once.

    Delta is affine in the profit, so it is evaluated through theory at profits 0 and 1 once per market.

    Example:
        >>> market = LogitDuopoly()
        >>> round(profit_gain(12.0, market), 10) == round(market.profit_gain(12.0), 10)
        True
    """
    intercept, slope = _gain_line(market)
    return float(intercept + slope * profit)


@functools.lru_cache(maxsize=64)
def _gain_line(market: LogitDuopoly) -> tuple[float, float]:
    at_zero = market.profit_gain(0.0)
    return at_zero, market.profit_gain(1.0) - at_zero


def price_index(price: float, market: LogitDuopoly) -> float:
    """(p - p_Nash) / (p_monopoly - p_Nash): 0 at the Bertrand-Nash price, 1 at the joint-monopoly price.

    Example:
        >>> market = LogitDuopoly()
        >>> round(price_index(market.monopoly_price(), market), 6)
        1.0
    """
    benchmarks = market_benchmarks(market)
    return float((price - benchmarks["nash_price"]) / (benchmarks["monopoly_price"] - benchmarks["nash_price"]))


def price_wars(prices: Sequence[float], *, min_length: int) -> list[tuple[int, int]]:
    """Runs of at least ``min_length`` consecutive periods in which the price falls every period.

    Args:
        prices: A price path, one value per period.
        min_length: Shortest run of falling periods that counts as a war.

    Returns:
        ``(start, length)`` per war: ``prices[start + i] < prices[start + i - 1]`` for i in 0..length-1.

    Example:
        >>> price_wars([5, 4, 3, 2, 2, 3, 2, 1], min_length=2)
        [(1, 3), (6, 2)]
    """
    prices = np.asarray(prices, dtype=np.float64)
    falling = np.diff(prices) < 0
    wars, run_start = [], None
    for i, fell in enumerate([*falling, False]):
        if fell and run_start is None:
            run_start = i + 1
        elif not fell and run_start is not None:
            if i + 1 - run_start >= min_length:
                wars.append((run_start, i + 1 - run_start))
            run_start = None
    return wars


def settled_since(indices: np.ndarray) -> int:
    """Position from which every row of ``indices`` (``[T, F]`` grid indices) equals the last row.

    Example:
        >>> settled_since(np.array([[1, 2], [3, 3], [3, 3]]))
        1
    """
    indices = np.asarray(indices)
    same = np.all(indices == indices[-1], axis=1)
    changed = np.flatnonzero(~same)
    return int(changed[-1] + 1) if changed.size else 0


def _play(log: pl.DataFrame) -> pl.DataFrame:
    return log.filter(pl.col("period") >= 1)


def firm_metrics(log: pl.DataFrame, *, pricing_config: Mapping[str, Any], window: int) -> pl.DataFrame:
    """One row per (pairing, alpha, episode, firm): its outcomes over the last ``window`` periods, its responsiveness.

    Args:
        log: Per-period logs (``duopoly.LOG_SCHEMA``) of any number of pairings.
        pricing_config: The resolved ``pricing`` section (market parameters).
        window: Number of final periods measured.

    Returns:
        Columns pairing, alpha, episode, firm, agent, rival, mean_price, mean_profit, price_index, profit_gain,
        price_change_rate, top_price_share (LLM firms, over the whole episode, not only the last ``window``
        periods: the share of the episode's decisions whose most likely price
        is the firm's most common most likely price; 1 for a firm that rates one price highest whatever the market
        shows; null for reference pricers).
    """
    keys = ["pairing", "alpha", "episode", "firm"]
    play = _play(log).sort([*keys, "period"])
    top = pl.col("logprobs").list.arg_max()  # logprobs are in grid order: the index is the price
    responsiveness = (
        play.filter(pl.col("logprobs").is_not_null())
        .group_by(keys)
        .agg((top == top.mode().min()).mean().alias("top_price_share"))
    )
    last = play.group_by(["pairing", "alpha", "episode"]).agg(pl.col("period").max().alias("last_period"))
    # Left order kept: the price-change rate differences consecutive periods within each group.
    recent = play.join(last, on=["pairing", "alpha", "episode"], maintain_order="left").filter(
        pl.col("period") > pl.col("last_period") - window
    )
    grouped = (
        recent.group_by(keys, maintain_order=True)
        .agg(
            pl.col("agent").first(),
            pl.col("rival").first(),
            pl.col("price").mean().alias("mean_price"),
            pl.col("profit").mean().alias("mean_profit"),
            (pl.col("price_index").diff().drop_nulls() != 0).mean().fill_null(0.0).alias("price_change_rate"),
        )
        .sort(keys)
    )
    markets = [market_from_config(pricing_config, alpha) for alpha in grouped["alpha"]]
    return (
        grouped.with_columns(
            pl.Series("price_index", [price_index(p, m) for p, m in zip(grouped["mean_price"], markets, strict=True)]),
            pl.Series("profit_gain", [profit_gain(q, m) for q, m in zip(grouped["mean_profit"], markets, strict=True)]),
        )
        .join(responsiveness, on=keys, how="left", maintain_order="left")
        .select(
            [
                *keys,
                "agent",
                "rival",
                "mean_price",
                "mean_profit",
                "price_index",
                "profit_gain",
                "price_change_rate",
                "top_price_share",
            ]
        )
    )


def episode_metrics(log: pl.DataFrame, *, window: int, price_war_length: int) -> pl.DataFrame:
    """One row per (pairing, alpha, episode): convergence and price wars of the market price path.

    Args:
        log: Per-period logs.
        window: Final periods in which prices must stay unchanged for ``converged``.
        price_war_length: Shortest run of falling mean prices counted as a price war.

    Returns:
        Columns pairing, alpha, episode, periods, converged, settled_period (first period of the final constant
        stretch), price_wars, war_periods.
    """
    rows = []
    play = _play(log).sort(["pairing", "alpha", "episode", "period", "firm"])
    for (pairing, alpha, episode), part in play.group_by(["pairing", "alpha", "episode"], maintain_order=True):
        indices = part["price_index"].to_numpy().reshape(-1, 2)
        periods = part["period"].to_numpy()[::2]
        mean_prices = part["price"].to_numpy().reshape(-1, 2).mean(axis=1)
        wars = price_wars(mean_prices, min_length=price_war_length)
        settled = settled_since(indices)
        rows.append(
            {
                "pairing": pairing,
                "alpha": float(alpha),
                "episode": int(episode),
                "periods": len(periods),
                "converged": bool(len(periods) - settled >= min(window, len(periods))),
                "settled_period": int(periods[settled]),
                "price_wars": len(wars),
                "war_periods": int(sum(length for _, length in wars)),
            }
        )
    schema = {
        "pairing": pl.String,
        "alpha": pl.Float64,
        "episode": pl.Int64,
        "periods": pl.Int64,
        "converged": pl.Boolean,
        "settled_period": pl.Int64,
        "price_wars": pl.Int64,
        "war_periods": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def episode_prices(firms: pl.DataFrame) -> pl.DataFrame:
    """The mean market price of each episode (both firms' mean prices over the window, averaged).

    Episodes are the independent replications of a pairing, so uncertainty about a pairing's price level is
    measured across them.

    Args:
        firms: Output of ``firm_metrics``.

    Returns:
        Columns pairing, alpha, episode, mean_price, sorted by them.
    """
    keys = ["pairing", "alpha", "episode"]
    return firms.group_by(keys).agg(pl.col("mean_price").mean()).sort(keys)


def pairing_table(firms: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """The table by pairing and alpha: means over episodes and both firms, plus each firm's profit gain.

    Args:
        firms: Output of ``firm_metrics``.
        episodes: Output of ``episode_metrics``.

    Returns:
        Columns pairing, alpha, episodes, mean_price, mean_price_se (standard error over episodes of the
        episode's mean market price; null with one episode), price_index, profit_gain, profit_gain_firm0,
        profit_gain_firm1, converged_share, price_wars (per episode), top_price_share (mean over the LLM firms'
        episodes; null when both firms are reference pricers), sorted by pairing and alpha.
    """
    by_firm = firms.group_by(["pairing", "alpha", "firm"]).agg(pl.col("profit_gain").mean())
    firm_gain = by_firm.pivot(on="firm", index=["pairing", "alpha"], values="profit_gain").rename(
        {"0": "profit_gain_firm0", "1": "profit_gain_firm1"}
    )
    market = firms.group_by(["pairing", "alpha"]).agg(
        pl.col("mean_price").mean(),
        pl.col("price_index").mean(),
        pl.col("profit_gain").mean(),
        pl.col("top_price_share").mean(),
    )
    spread = (
        episode_prices(firms)
        .group_by(["pairing", "alpha"])
        .agg((pl.col("mean_price").std(ddof=1) / pl.len().sqrt()).alias("mean_price_se"))
    )
    dynamics = episodes.group_by(["pairing", "alpha"]).agg(
        pl.len().alias("episodes"),
        pl.col("converged").cast(pl.Float64).mean().alias("converged_share"),
        pl.col("price_wars").cast(pl.Float64).mean(),
    )
    return (
        market.join(firm_gain, on=["pairing", "alpha"])
        .join(spread, on=["pairing", "alpha"])
        .join(dynamics, on=["pairing", "alpha"])
        .select(
            "pairing",
            "alpha",
            "episodes",
            "mean_price",
            "mean_price_se",
            "price_index",
            "profit_gain",
            "profit_gain_firm0",
            "profit_gain_firm1",
            "converged_share",
            "price_wars",
            "top_price_share",
        )
        .sort(["pairing", "alpha"])
    )
