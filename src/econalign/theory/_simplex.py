"""Exact maximisation of polynomial utilities on [0, 1] and on the simplex (private helpers of the solvers).

Expected payoffs of finite games are multilinear in the players' mixed strategies, so along any segment of the
simplex a homo moralis utility is a polynomial of degree at most n (own play plus up to n - 1 copies). A fit on
enough Chebyshev nodes recovers it exactly up to rounding, which gives exact maxima and first-order conditions
without a grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from numpy.polynomial import Chebyshev
from scipy import optimize

ROOT_IMAG_TOL = 1e-7


def nodes(degree: int) -> np.ndarray:
    """Chebyshev nodes on [0, 1], two more than a degree-``degree`` fit needs (a least-squares safety margin)."""
    m = degree + 3
    return 0.5 - 0.5 * np.cos((2 * np.arange(m) + 1) * np.pi / (2 * m))


def fit(f: Callable[[float], float], degree: int) -> Chebyshev:
    """Polynomial of degree ``degree`` through ``f`` on [0, 1] (exact when f is such a polynomial)."""
    t = nodes(degree)
    return Chebyshev.fit(t, [f(float(s)) for s in t], degree, domain=[0.0, 1.0])


def real_roots(poly: Chebyshev, *, scale: float) -> list[float]:
    """Real roots in [0, 1]; an identically zero polynomial (all coefficients below ``scale``) has none."""
    poly = poly.trim(scale * 1e-12)
    if poly.degree() < 1:
        return []
    roots = poly.roots()
    keep = [float(r.real) for r in roots if abs(r.imag) <= ROOT_IMAG_TOL and -1e-9 <= r.real <= 1 + 1e-9]
    return sorted(min(max(r, 0.0), 1.0) for r in keep)


def max_on_interval(f: Callable[[float], float], degree: int) -> tuple[float, float]:
    """Maximiser and maximum of a polynomial ``f`` of degree <= ``degree`` on [0, 1].

    Candidates are the end points and the real critical points of the fitted polynomial; ``f`` itself is evaluated
    at each, so the fit only locates the candidates.
    """
    candidates = [0.0, 1.0]
    if degree >= 2:
        poly = fit(f, degree)
        candidates += real_roots(poly.deriv(), scale=max(1.0, float(np.abs(poly.coef).max())))
    values = [f(t) for t in candidates]
    best = int(np.argmax(values))
    return candidates[best], float(values[best])


def vertex(k: int, a: int) -> np.ndarray:
    """Pure strategy ``a`` as a probability vector of length ``k``."""
    e = np.zeros(k)
    e[a] = 1.0
    return e


def max_on_simplex(f: Callable[[np.ndarray], float], k: int, degree: int) -> tuple[np.ndarray, float]:
    """Maximise a polynomial function of a mixed strategy over the simplex of dimension ``k - 1``.

    Exact on vertices and edges (every point for k = 2, and everywhere for linear f); faces of dimension two and
    more are searched by SLSQP started from the best points found and from the barycentre.

    Args:
        f: Function of a probability vector ``[k]``.
        k: Number of actions.
        degree: Upper bound on the polynomial degree of f along a segment.

    Returns:
        (maximiser, maximum).
    """
    points: list[tuple[float, np.ndarray]] = []
    for a in range(k):
        x = vertex(k, a)
        points.append((f(x), x))
    if degree <= 1:
        # A linear function peaks at a vertex.
        best_v, best_x = max(points, key=lambda pv: pv[0])
        return best_x, float(best_v)
    for a, b in itertools.combinations(range(k), 2):

        def along(t: float, a: int = a, b: int = b) -> float:
            return f(t * vertex(k, a) + (1.0 - t) * vertex(k, b))

        t, v = max_on_interval(along, degree)
        points.append((v, t * vertex(k, a) + (1.0 - t) * vertex(k, b)))
    points.sort(key=lambda pv: -pv[0])
    best_v, best_x = points[0]
    if k > 2:
        starts = [x for _, x in points[:3]] + [np.full(k, 1.0 / k)]
        for start in starts:
            x, v = _local_max(f, start)
            if v > best_v:
                best_x, best_v = x, v
    return best_x, float(best_v)


def _local_max(f: Callable[[np.ndarray], float], start: np.ndarray) -> tuple[np.ndarray, float]:
    k = len(start)
    result = optimize.minimize(
        lambda x: -f(_project(x)),
        start,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda x: np.sum(x) - 1.0}],
        options={"ftol": 1e-14, "maxiter": 200},
    )
    x = _project(result.x)
    return x, f(x)


def _project(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    total = x.sum()
    return x / total if total > 0 else np.full(len(x), 1.0 / len(x))
