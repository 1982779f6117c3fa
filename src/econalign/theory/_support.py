"""First-order candidates for symmetric equilibria (private helpers of ``solvers``).

Support enumeration for two-player matrix games, exact edge roots for any game, a separability test, and the
linear programs that tell an isolated equilibrium from a continuum.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from scipy import optimize

from econalign.theory import _simplex

Utility = Callable[[np.ndarray, np.ndarray], float]
SingularSystem = tuple[np.ndarray, np.ndarray, list[int], int]


def strict_maximiser(f: Callable[[np.ndarray], float], k: int, degree: int, tol: float) -> int | None:
    """The vertex that beats every other point of the simplex by more than ``tol``, if there is one."""
    values = np.array([f(_simplex.vertex(k, a)) for a in range(k)])
    best = int(np.argmax(values))
    if np.sort(values)[-2] >= values[best] - tol:
        return None
    # Beating the other vertices is not enough when f is not linear: check every edge through the best vertex too.
    for b in range(k):
        if b == best:
            continue
        t, value = _simplex.max_on_interval(
            lambda t, b=b: f(t * _simplex.vertex(k, b) + (1 - t) * _simplex.vertex(k, best)), max(degree, 1)
        )
        if t > 0 and value >= values[best] - tol:
            return None
    return best if _simplex.max_on_simplex(f, k, degree)[1] <= values[best] + tol else None


def is_separable(u: Utility, k: int, *, n_points: int = 8) -> bool:
    """Whether u(x', y) - u(x', y0) - u(x0, y) + u(x0, y0) vanishes, tested at fixed pseudo-random points.

    A polynomial that is not identically zero vanishes at random points with probability zero, so a fixed seed
    gives a deterministic test that is wrong only on a measure-zero set of games.
    """
    rng = np.random.default_rng(20130601)
    points = rng.dirichlet(np.ones(k), size=(n_points, 2))
    x0 = y0 = np.full(k, 1.0 / k)
    base = u(x0, y0)
    scale = max(abs(u(x, y)) for x, y in points) + abs(base) + 1.0
    return all(abs(u(x, y) - u(x, y0) - u(x0, y) + base) <= 1e-10 * scale for x, y in points)


def edge_first_order_points(
    u: Utility, k: int, a: int, b: int, *, degree: int, scale: float
) -> tuple[list[float], bool]:
    """Roots in [0, 1] of h(t) = d/dt' u(x(t'), x(t)) at t' = t, x(t) = t e_a + (1 - t) e_b; and whether h == 0."""
    ea, eb = _simplex.vertex(k, a), _simplex.vertex(k, b)

    def point(t: float) -> np.ndarray:
        return t * ea + (1.0 - t) * eb

    def h(t: float) -> float:
        along = _simplex.fit(lambda s: u(point(s), point(t)), degree)
        return float(along.deriv()(t))

    # h has degree <= n - 1 (monomials of total degree <= n, one factor differentiated away); fit with slack.
    poly = _simplex.fit(h, degree)
    values = np.array([h(float(t)) for t in _simplex.nodes(degree)])
    if np.abs(values).max() <= 1e-9 * scale:
        return [], True
    return _simplex.real_roots(poly, scale=scale), False


def support_candidates(matrix: np.ndarray, kappa: float) -> tuple[list[np.ndarray], list[SingularSystem]]:
    """Mixed first-order candidates (support size >= 2) for u(x', y) = (1 - kappa) x'Ay + kappa x'Ax'.

    At x' = y = x the gradient is B x with B = A + kappa A^T, so x solves B_S x_S = lambda 1, sum x_S = 1 on its
    support S: a symmetric Nash equilibrium condition of the game B (support enumeration, Nisan et al. 2007,
    Algorithm 3.4). Returns the isolated solutions, and the singular systems (system, rhs, support, k), whose
    solution sets may hold a continuum (see ``interior_point``).
    """
    k = matrix.shape[0]
    b_matrix = matrix + kappa * matrix.T
    isolated, singular = [], []
    for size in range(2, k + 1):
        for support in itertools.combinations(range(k), size):
            idx = list(support)
            system = np.zeros((size + 1, size + 1))
            system[:size, :size] = b_matrix[np.ix_(idx, idx)]
            system[:size, size] = -1.0
            system[size, :size] = 1.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            if np.linalg.matrix_rank(system) < size + 1:
                singular.append((system, rhs, idx, k))
                continue
            solution = np.linalg.solve(system, rhs)[:size]
            if np.all(solution > 1e-12):
                x = np.zeros(k)
                x[idx] = solution
                isolated.append(x)
    return isolated, singular


def interior_point(system: np.ndarray, rhs: np.ndarray, idx: list[int], k: int) -> np.ndarray | None:
    """A strategy with support ``idx`` solving a singular first-order system, as interior as possible."""
    solution = _interior_solution(system, rhs, len(idx))
    if solution is None:
        return None
    x = np.zeros(k)
    x[idx] = solution
    return x


def _interior_solution(system: np.ndarray, rhs: np.ndarray, size: int) -> np.ndarray | None:
    """A solution of system @ (x, lambda) = rhs maximising min(x), if that minimum is positive."""
    least, *_ = np.linalg.lstsq(system, rhs, rcond=None)
    if np.abs(system @ least - rhs).max() > 1e-9:
        return None  # inconsistent: no first-order point on this support
    if np.all(least[:size] > 1e-9):
        return least[:size]
    # Cheap infeasibility test before the linear program: is there any x >= 0 (lambda split into two parts)?
    _, residual = optimize.nnls(np.hstack([system, -system[:, -1:]]), rhs)
    if residual > 1e-9:
        return None
    # Variables: x (size), lambda (free), t (free); maximise t subject to x_i >= t.
    a_eq = np.hstack([system, np.zeros((size + 1, 1))])
    a_ub = np.hstack([-np.eye(size), np.zeros((size, 1)), np.ones((size, 1))])
    cost = np.zeros(size + 2)
    cost[-1] = -1.0
    result = optimize.linprog(
        cost, A_ub=a_ub, b_ub=np.zeros(size), A_eq=a_eq, b_eq=rhs, bounds=[(0, 1)] * size + [(None, None)] * 2
    )
    if not result.success or result.x[-1] <= 1e-9:
        return None
    return result.x[:size]
