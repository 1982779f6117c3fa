"""Mixed strategies and expected payoffs of anonymous games (private helpers of games.py and the solvers)."""

from __future__ import annotations

import numbers
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_TOL = 1e-9


def as_strategy(s: Any, actions: Sequence[str]) -> np.ndarray:
    """Return a strategy as a probability vector over ``actions``.

    Args:
        s: An action name (pure strategy), a number in [0, 1] read as the probability of the first action (only
            for two actions), or a probability vector of length ``len(actions)``.
        actions: The game's action names.

    Returns:
        Float64 array of shape ``[K]``, non-negative, summing to one.
    """
    k = len(actions)
    fast = isinstance(s, np.ndarray) and s.shape == (k,) and s.dtype == np.float64
    if fast and s.min() >= -_TOL and abs(s.sum() - 1.0) <= 1e-6:
        # Solvers pass valid float64 vectors thousands of times: skip the copy and normalisation.
        return s
    if isinstance(s, str):
        if s not in actions:
            raise ValueError(f"unknown action {s!r}; actions are {tuple(actions)}")
        vector = np.zeros(k)
        vector[list(actions).index(s)] = 1.0
        return vector
    if isinstance(s, numbers.Real) or (isinstance(s, np.ndarray) and s.ndim == 0):
        if k != 2:
            raise ValueError(f"a scalar strategy (probability of the first action) needs two actions, not {k}")
        p = float(s)
        if not -_TOL <= p <= 1 + _TOL:
            raise ValueError(f"probability of the first action must lie in [0, 1], got {p}")
        p = min(max(p, 0.0), 1.0)
        return np.array([p, 1.0 - p])
    vector = np.asarray(s, dtype=np.float64)
    if vector.shape != (k,):
        raise ValueError(f"a mixed strategy needs shape ({k},), got {vector.shape}")
    if np.any(vector < -_TOL) or abs(vector.sum() - 1.0) > 1e-6:
        raise ValueError(f"a mixed strategy must be non-negative and sum to one, got {vector.tolist()}")
    vector = np.clip(vector, 0.0, None)
    return vector / vector.sum()


def count_distribution(others: Sequence[np.ndarray], n_actions: int) -> dict[tuple[int, ...], float]:
    """Distribution of how many other players take each action, when each draws from its own strategy.

    Args:
        others: One probability vector per other player.
        n_actions: Number of actions K.

    Returns:
        Map from counts (a K-tuple summing to ``len(others)``) to probability; zero-probability counts omitted.
    """
    dist: dict[tuple[int, ...], float] = {(0,) * n_actions: 1.0}
    for y in others:
        new: dict[tuple[int, ...], float] = defaultdict(float)
        for counts, p in dist.items():
            for k in range(n_actions):
                if y[k] > 0.0:
                    bumped = list(counts)
                    bumped[k] += 1
                    new[tuple(bumped)] += p * y[k]
        dist = new
    return dist


def expected_anonymous_payoff(
    pure_payoff: Callable[[int, Sequence[int]], float],
    own: np.ndarray,
    others: Sequence[np.ndarray],
    *,
    n_actions: int,
) -> float:
    """Expected payoff of mixed ``own`` against independent mixed ``others`` in an anonymous game.

    Args:
        pure_payoff: ``pure_payoff(action, counts)``, the payoff of ``action`` when ``counts[k]`` others play k.
        own: Own probability vector ``[K]``.
        others: One probability vector ``[K]`` per other player.
        n_actions: Number of actions K.

    Returns:
        sum_a own[a] * E[pure_payoff(a, counts)].
    """
    total = 0.0
    for counts, p in count_distribution(others, n_actions).items():
        for a in range(n_actions):
            if own[a] > 0.0:
                total += own[a] * p * pure_payoff(a, counts)
    return float(total)
