"""Continuous-action solvers: best-response and symmetric equilibrium prices (used by ``market``).

Each firm maximises (1 - kappa) pi(p, p_other) + kappa pi(p, p): the homo moralis objective of Alger & Weibull
(2013) with a continuous strategy; kappa = 0 is profit maximisation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

from econalign.theory.preferences import two_player_moralis

__all__ = ["ProfitFn", "best_response_price", "maximise_scalar", "symmetric_equilibrium_price"]

ProfitFn = Callable[[float, float], float]


def _moralis_objective(profit: ProfitFn, p_other: float, kappa: float) -> Callable[[float], float]:
    return lambda p: two_player_moralis(profit(p, p_other), profit(p, p), kappa)


def _derivative(f: Callable[[float], float], step: float) -> Callable[[float], float]:
    """Five-point central difference: error O(step^4), so precise well beyond a bounded Brent search."""
    return lambda p: (-f(p + 2 * step) + 8 * f(p + step) - 8 * f(p - step) + f(p - 2 * step)) / (12 * step)


def maximise_scalar(f: Callable[[float], float], bounds: tuple[float, float]) -> float:
    """Maximiser of a unimodal f on ``bounds``: bounded Brent search, then a root of f' near it.

    The Brent search alone stops at about sqrt(machine epsilon) relative precision because f is flat at its
    maximum; the derivative's root is located to near machine precision.

    Args:
        f: Objective.
        bounds: (low, high).

    Returns:
        The maximiser.

    Example:
        >>> maximise_scalar(lambda p: -((p - 0.3) ** 2), (0.0, 1.0))
        0.3
    """
    lo, hi = bounds
    rough = float(optimize.minimize_scalar(lambda p: -f(p), bounds=bounds, method="bounded").x)
    step = 1e-4 * (hi - lo)
    slope = _derivative(f, step * 1e-2)
    left, right = max(lo + 2 * step * 1e-2, rough - step), min(hi - 2 * step * 1e-2, rough + step)
    if slope(left) > 0 > slope(right):
        return float(optimize.brentq(slope, left, right, xtol=1e-15, rtol=4 * np.finfo(float).eps))
    return rough


def best_response_price(profit: ProfitFn, p_other: float, *, kappa: float = 0.0, bounds: tuple[float, float]) -> float:
    """Price maximising (1 - kappa) pi(p, p_other) + kappa pi(p, p) on ``bounds``.

    Args:
        profit: ``profit(p_own, p_other)``.
        p_other: The rival's price.
        kappa: Degree of morality (0 for a profit maximiser).
        bounds: Search interval (low, high); the objective should be unimodal on it.

    Returns:
        The best-response price.

    Example:
        >>> round(best_response_price(lambda p, q: p * (10 - 2 * p + q), 2.0, bounds=(0.0, 10.0)), 9)
        3.0

    References:
        Alger & Weibull (2013), Econometrica 81(6), eq. (2), with continuous strategies.
    """
    return maximise_scalar(_moralis_objective(profit, p_other, kappa), bounds)


def symmetric_equilibrium_price(
    profit: ProfitFn, *, kappa: float = 0.0, bounds: tuple[float, float], grid: int = 200
) -> float:
    """Symmetric equilibrium price p* = argmax_p (1 - kappa) pi(p, p*) + kappa pi(p, p*...p).

    Solves the first-order condition d/dp [(1 - kappa) pi(p, q) + kappa pi(p, p)] = 0 at p = q (five-point
    derivative, Brent's root finder on each sign change of a grid), then keeps roots that are best responses to
    themselves. Exactly one must remain.

    Args:
        profit: ``profit(p_own, p_other)``.
        kappa: Degree of morality; 0 gives the Bertrand-Nash price, 1 the joint-profit (monopoly) price.
        bounds: Search interval.
        grid: Number of grid points to bracket roots.

    Returns:
        The equilibrium price.

    Example:
        >>> round(symmetric_equilibrium_price(lambda p, q: p * (10 - 2 * p + q), bounds=(0.0, 10.0)), 6)
        3.333333

    References:
        Alger & Weibull (2013), Econometrica 81(6), Definition 2; Calvano et al. (2020), AER 110(10), Section I.
    """
    lo, hi = bounds
    step = 1e-6 * (hi - lo)

    def first_order(p: float) -> float:
        return _derivative(_moralis_objective(profit, p, kappa), step)(p)

    points = np.linspace(lo + 2 * step, hi - 2 * step, grid)
    values = [first_order(float(p)) for p in points]
    roots = [
        optimize.brentq(first_order, points[i], points[i + 1], xtol=1e-14)
        for i in range(grid - 1)
        if values[i] == 0 or values[i] * values[i + 1] < 0
    ]
    stable = [
        p for p in roots if abs(best_response_price(profit, p, kappa=kappa, bounds=bounds) - p) < 1e-6 * (hi - lo)
    ]
    if len(stable) != 1:
        raise ValueError(
            f"expected one symmetric equilibrium price in {bounds}, found {stable} (first-order roots {roots})"
        )
    return float(stable[0])
