"""Independent brute-force checks of solver output: no solver vouches for itself.

These functions share nothing with ``solvers.py`` except the preference's ``utility``: they evaluate it on
explicit grids of deviations and compare.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from econalign.theory.games import Game
from econalign.theory.preferences import Preference

__all__ = ["is_best_response", "is_equilibrium_price", "is_symmetric_equilibrium", "simplex_grid"]


def simplex_grid(k: int, resolution: int) -> np.ndarray:
    """All probability vectors of length ``k`` with entries in multiples of 1/resolution.

    Args:
        k: Number of actions.
        resolution: Grid denominator.

    Returns:
        Array ``[M, k]`` with M = C(resolution + k - 1, k - 1).

    Example:
        >>> simplex_grid(2, 2).tolist()
        [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    """
    rows = [
        np.diff([0, *cuts, resolution]) / resolution
        for cuts in itertools.combinations_with_replacement(range(resolution + 1), k - 1)
    ]
    return np.array(rows, dtype=np.float64)


def is_best_response(game: Game, preference: Preference, belief: Any, action: str | int, *, atol: float = 1e-9) -> bool:
    """Whether ``action`` does at least as well as every other pure action against ``belief``.

    Args:
        game: Any game.
        preference: A preference.
        belief: Strategy of every other player.
        action: Action name or index.
        atol: Tolerance, relative to the payoff range.

    Returns:
        True if no pure action beats ``action`` by more than ``atol`` of the payoff range.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoEconomicus
        >>> is_best_response(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoEconomicus(), 0.9, "D")
        True
    """
    index = game.action_index(action)
    utilities = [preference.utility(game, game.actions[a], belief) for a in range(game.n_actions)]
    return utilities[index] >= max(utilities) - atol * _unit(game, utilities[index])


def is_symmetric_equilibrium(
    game: Game, preference: Preference, x: Any, *, resolution: int | None = None, atol: float = 1e-7
) -> bool:
    """Whether no mixed deviation on a grid of the simplex beats x against x (u(x', x) <= u(x, x) + atol range).

    Args:
        game: Any game.
        preference: A preference.
        x: Candidate symmetric strategy (probability of the first action, vector, or action name).
        resolution: Grid denominator; by default 1000 for two actions, else the largest giving <= 5000 points.
        atol: Tolerance, relative to the payoff range.

    Returns:
        True if x is a best reply to itself among the grid's strategies.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> g = PrisonersDilemma(T=5, R=3, P=1, S=0)
        >>> moralis = HomoMoralis(kappa=0.5)
        >>> is_symmetric_equilibrium(g, moralis, 2 / 3), is_symmetric_equilibrium(g, moralis, 1.0)
        (True, False)
    """
    k = game.n_actions
    x = game.strategy(x)
    if resolution is None:
        resolution = 1000 if k == 2 else _largest_resolution(k, 5000)
    reference = preference.utility(game, x, x)
    slack = atol * _unit(game, reference)
    return all(preference.utility(game, z, x) <= reference + slack for z in simplex_grid(k, resolution))


def _unit(game: Game, reference: float) -> float:
    """Scale of the tolerances: the payoff range, or the payoff's size in a constant game (rounding only)."""
    return game.payoff_range if game.payoff_range > 0 else max(abs(reference), 1.0)


def _largest_resolution(k: int, max_points: int) -> int:
    resolution = 1
    while _n_points(k, resolution + 1) <= max_points:
        resolution += 1
    return resolution


def _n_points(k: int, resolution: int) -> int:
    return math.comb(resolution + k - 1, k - 1)


def is_equilibrium_price(
    profit: Callable[[float, float], float], price: float, *, kappa: float = 0.0, grid: np.ndarray, atol: float = 1e-9
) -> bool:
    """Whether no price on ``grid`` beats ``price`` against itself for (1 - kappa) pi(p, p*) + kappa pi(p, p).

    Args:
        profit: ``profit(p_own, p_other)``.
        price: Candidate symmetric equilibrium price p*.
        kappa: Degree of morality.
        grid: Deviation prices.
        atol: Absolute tolerance on the objective.

    Returns:
        True if p* is a best reply to itself among ``grid``.

    Example:
        >>> import numpy as np
        >>> is_equilibrium_price(lambda p, q: p * (10 - 2 * p + q), 10 / 3, grid=np.linspace(0, 10, 1001))
        True
    """

    def objective(p: float) -> float:
        return (1.0 - kappa) * profit(p, price) + kappa * profit(p, p)

    reference = objective(price)
    return all(objective(float(p)) <= reference + atol for p in grid)
