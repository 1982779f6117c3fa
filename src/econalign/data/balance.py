"""Balanced selection of dataset items, so that the data teach payoff and belief sensitivity, not a prior.

``greedy_select`` picks items from a candidate pool so that the mean of each binary feature (the answer is the
first action, the answer flips with the belief, the answer flips with the payoffs, the theory gives an answer)
approaches its target; ``balanced_orders`` then lists the options so that the answer sits in the first position in
half of the items; ``balanced_choices`` spreads templates and label sets evenly.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

__all__ = ["balanced_choices", "balanced_orders", "greedy_select"]

T = TypeVar("T")


def greedy_select(
    features: np.ndarray, *, n: int, targets: np.ndarray, weights: np.ndarray, selected: np.ndarray | None = None
) -> list[int]:
    """Choose ``n`` rows whose feature means approach ``targets``, one row at a time.

    At each step the row that minimises sum_f w_f (mean_f - target_f)^2 over the selection is added, where a
    feature's mean runs over the selected rows in which it is defined (NaN marks undefined), plus one pseudo-row at
    the target (so a feature that no row defines yet is not cheaper to leave undefined). Ties go to the earliest
    row, so shuffle the pool first to randomise.

    Args:
        features: ``[M, F]`` array of 0/1 values or NaN.
        n: Number of rows to select (all rows when ``n >= M``).
        targets: ``[F]`` target mean per feature.
        weights: ``[F]`` non-negative weight per feature.
        selected: ``[S, F]`` features of rows chosen earlier (e.g. from another pool) that count toward the means.

    Returns:
        Selected row indices, in the order they were picked.

    Example:
        >>> x = np.array([[1.0], [1.0], [1.0], [0.0], [0.0]])
        >>> sorted(greedy_select(x, n=4, targets=np.array([0.5]), weights=np.array([1.0])))
        [0, 1, 3, 4]
    """
    features = np.asarray(features, dtype=np.float64)
    m, f = features.shape
    defined = ~np.isnan(features)
    values = np.where(defined, features, 0.0)
    sums, counts = np.asarray(targets, dtype=np.float64).copy(), np.ones(f)  # the pseudo-row
    if selected is not None and len(selected):
        sums += np.nansum(selected, axis=0)
        counts += (~np.isnan(selected)).sum(axis=0)
    available = np.ones(m, dtype=bool)
    chosen: list[int] = []
    for _ in range(min(n, m)):
        means = (sums[None, :] + values) / (counts[None, :] + defined)
        cost = (weights * (means - targets) ** 2).sum(axis=1)
        cost[~available] = np.inf
        best = int(np.argmin(cost))
        chosen.append(best)
        available[best] = False
        sums += values[best]
        counts += defined[best]
    return chosen


def balanced_orders(keys: Sequence[Hashable], rng: np.random.Generator) -> list[tuple[int, int]]:
    """Presentation orders of two options, listing the first action first in half the items of every key group.

    Items are grouped by ``keys`` (e.g. the tuple of every agent's answer); within the sorted, shuffled list the
    order alternates, so in each group the answer is listed first in half of the items (up to one).

    Args:
        keys: One sortable key per item.
        rng: Random generator.

    Returns:
        ``(0, 1)`` or ``(1, 0)`` per item.
    """
    tiebreak = rng.permutation(len(keys))
    position = sorted(range(len(keys)), key=lambda i: (keys[i], tiebreak[i]))
    start = int(rng.integers(2))
    orders: list[tuple[int, int]] = [(0, 1)] * len(keys)
    for rank, i in enumerate(position):
        orders[i] = (0, 1) if (rank + start) % 2 == 0 else (1, 0)
    return orders


def balanced_choices(choices: Sequence[T], n: int, rng: np.random.Generator) -> list[T]:
    """``n`` draws that use every choice equally often (up to one), in random order.

    Example:
        >>> sorted(balanced_choices(["a", "b"], 4, np.random.default_rng(0)))
        ['a', 'a', 'b', 'b']
    """
    if not choices:
        raise ValueError("no choices to draw from")
    offset = int(rng.integers(len(choices)))
    picks = (np.arange(n) + offset) % len(choices)
    return [choices[int(i)] for i in rng.permutation(picks)]
