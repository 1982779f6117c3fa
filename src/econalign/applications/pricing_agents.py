"""Reference pricers for the repeated duopoly, and the discrete pricing game they best-respond in.

Each reference pricer is a deterministic function of what a firm has seen (``FirmView``) to a grid index. The
exact homo moralis pricer best-responds, under its kappa, to the rival's last price in the game whose actions are
the grid prices and whose payoffs are ``LogitDuopoly.profit`` (``PriceGridGame``), through the theory's solver.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np

from econalign.applications.pricing_prompts import PRICE_DECIMALS, format_price
from econalign.theory.games import MatrixGame
from econalign.theory.market import LogitDuopoly
from econalign.theory.preferences import HomoEconomicus, HomoMoralis
from econalign.theory.solvers import best_response

__all__ = [
    "REFERENCE_PRICERS",
    "ExactMoralisPricer",
    "FirmView",
    "FixedPricer",
    "PriceGridGame",
    "ReferencePricer",
    "TitForTatPricer",
    "grid_best_response",
    "market_grid",
    "nearest_index",
    "reference_pricer",
]


@functools.lru_cache(maxsize=64)
def _grid(market: LogitDuopoly, n: int) -> tuple[float, ...]:
    grid = np.round(market.price_grid(n), PRICE_DECIMALS)
    if len(np.unique(grid)) != n:
        raise ValueError(f"a grid of {n} prices at alpha={market.alpha} is not distinct at the cent: {grid.tolist()}")
    return tuple(float(p) for p in grid)


def market_grid(market: LogitDuopoly, n: int) -> np.ndarray:
    """Calvano's price grid of ``market``, rounded to the cent so that what a firm reads is what it charges.

    Args:
        market: The market.
        n: Number of prices.

    Returns:
        Ascending prices, shape ``[n]``.

    Example:
        >>> market_grid(LogitDuopoly(), 15)[[0, -1]].tolist()
        [1.43, 1.97]
    """
    return np.array(_grid(market, n))


def nearest_index(grid: np.ndarray, price: float) -> int:
    """Index of the grid price nearest ``price`` (the lower one on a tie)."""
    return int(np.argmin(np.abs(np.asarray(grid) - price)))


@dataclasses.dataclass(frozen=True, eq=False)
class PriceGridGame(MatrixGame):
    """The stage game on a price grid: actions are grid prices, payoffs the market's profits.

    Args:
        market: The logit duopoly.
        grid: Admissible prices.

    Example:
        >>> game = PriceGridGame(LogitDuopoly(beta=1.0), (1.5, 1.9))
        >>> round(game.payoff("1.50", "1.90"), 4) == round(LogitDuopoly(beta=1.0).profit(1.5, 1.9), 4)
        True
    """

    market: LogitDuopoly
    grid: tuple[float, ...]

    family: ClassVar[str] = "price_grid"

    @property
    def actions(self) -> tuple[str, ...]:  # type: ignore[override]
        """Prices as the firms read them (``format_price``)."""
        return tuple(format_price(p) for p in self.grid)

    @functools.cached_property
    def _matrix(self) -> np.ndarray:
        matrix = np.array([[self.market.profit(p, q) for q in self.grid] for p in self.grid], dtype=np.float64)
        matrix.setflags(write=False)
        return matrix

    def payoff_matrix(self) -> np.ndarray:
        """Profit ``A[own, rival]`` at grid prices."""
        return self._matrix

    def params(self) -> dict[str, Any]:
        """Market parameters and the grid."""
        return {**dataclasses.asdict(self.market), "grid": list(self.grid)}


@functools.lru_cache(maxsize=64)
def _grid_game(market: LogitDuopoly, n: int) -> PriceGridGame:
    return PriceGridGame(market, _grid(market, n))


@functools.lru_cache(maxsize=4096)
def grid_best_response(market: LogitDuopoly, n: int, rival_index: int, kappa: float) -> int:
    """Grid index maximising (1 - kappa) pi(p, p_rival) + kappa pi(p, p) among the ``n`` grid prices.

    Args:
        market: The market.
        n: Grid size.
        rival_index: The rival's grid index.
        kappa: Degree of morality (0: a myopic profit maximiser).

    Returns:
        The best-response index (the lowest on an exact tie).

    Example:
        >>> market = LogitDuopoly()
        >>> grid = market_grid(market, 15)
        >>> grid_best_response(market, 15, 7, 0.5) == nearest_index(grid, market.moralis_price(0.5))
        True
    """
    game = _grid_game(market, n)
    belief = np.zeros(n)
    belief[rival_index] = 1.0
    preference = HomoEconomicus() if kappa == 0 else HomoMoralis(kappa=kappa)
    return best_response(game, preference, belief).index


@dataclasses.dataclass(frozen=True)
class FirmView:
    """What a firm knows when it sets its price in ``period``; histories run oldest first.

    Attributes:
        market: The market.
        grid: Admissible prices.
        period: The period being decided (1-based).
        own_index: Own grid indices in all past periods.
        rival_index: The rival's grid indices in those periods.
        own_quantity: Own quantities sold in those periods.
        own_profit: Own profits in those periods.
        history_periods: Period numbers of those rows (0 is the random opening, if any).
    """

    market: LogitDuopoly
    grid: np.ndarray
    period: int
    own_index: tuple[int, ...]
    rival_index: tuple[int, ...]
    own_quantity: tuple[float, ...]
    own_profit: tuple[float, ...]
    history_periods: tuple[int, ...]


class ReferencePricer(Protocol):
    """A deterministic pricing rule."""

    name: str

    def choose(self, view: FirmView) -> int:
        """The grid index to charge."""
        ...


@dataclasses.dataclass(frozen=True)
class FixedPricer:
    """Always the grid price nearest a benchmark price of the market (``nash`` or ``monopoly``)."""

    name: str
    benchmark: Callable[[LogitDuopoly], float]

    def choose(self, view: FirmView) -> int:
        """Nearest grid index to the benchmark price."""
        return nearest_index(view.grid, self.benchmark(view.market))


@dataclasses.dataclass(frozen=True)
class ExactMoralisPricer:
    """Best response under kappa to the rival's last price; opens at the grid price nearest the moralis price."""

    kappa: float
    name: str = "exact_moralis"

    def choose(self, view: FirmView) -> int:
        """The grid best response to the rival's last price."""
        if not view.rival_index:
            return nearest_index(view.grid, _moralis_price(view.market, float(self.kappa)))
        return grid_best_response(view.market, len(view.grid), view.rival_index[-1], float(self.kappa))


@dataclasses.dataclass(frozen=True)
class TitForTatPricer:
    """Tit-for-tat on price: charge the rival's last price; open at the grid price nearest the monopoly price."""

    name: str = "tit_for_tat"

    def choose(self, view: FirmView) -> int:
        """The rival's last grid index."""
        if not view.rival_index:
            return nearest_index(view.grid, view.market.monopoly_price())
        return view.rival_index[-1]


REFERENCE_PRICERS = ("nash", "monopoly", "exact_moralis", "tit_for_tat")


def reference_pricer(name: str, *, kappa: float) -> ReferencePricer:
    """Build a reference pricer by its configuration name.

    Args:
        name: One of ``REFERENCE_PRICERS``.
        kappa: Degree of morality of ``exact_moralis`` (ignored by the others).

    Returns:
        The pricer.

    Example:
        >>> reference_pricer("nash", kappa=0.5).name
        'nash'
    """
    if name == "nash":
        return FixedPricer("nash", _nash_price)
    if name == "monopoly":
        return FixedPricer("monopoly", _monopoly_price)
    if name == "exact_moralis":
        return ExactMoralisPricer(kappa=kappa)
    if name == "tit_for_tat":
        return TitForTatPricer()
    raise ValueError(f"unknown reference pricer {name!r}; known: {list(REFERENCE_PRICERS)}")


@functools.lru_cache(maxsize=64)
def _nash_price(market: LogitDuopoly) -> float:
    return market.nash_price()


@functools.lru_cache(maxsize=64)
def _monopoly_price(market: LogitDuopoly) -> float:
    return market.monopoly_price()


@functools.lru_cache(maxsize=256)
def _moralis_price(market: LogitDuopoly, kappa: float) -> float:
    return market.moralis_price(kappa)
