"""Small statistics for the applications: Wilson intervals and a fractional-logit slope.

Pure numpy; the report and the summaries of both applications share them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy.special import expit
from scipy.stats import norm

__all__ = ["LogitSlope", "logit_slope", "wilson_interval"]


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Args:
        successes: Number of successes x (0 <= x <= trials).
        trials: Number of trials n; with n = 0 the interval is (0, 1).
        confidence: Two-sided confidence level.

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = wilson_interval(0, 10)
        >>> round(low, 4), round(high, 4)
        (0.0, 0.2775)

    References:
        Wilson (1927), Probable inference, the law of succession, and statistical inference, JASA 22(158);
        Agresti & Coull (1998), Approximate is better than "exact", The American Statistician 52(2), eq. (4).
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if trials == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    share = successes / trials
    denominator = 1 + z**2 / trials
    center = (share + z**2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2))
    return max(0.0, center - half), min(1.0, center + half)


@dataclasses.dataclass(frozen=True)
class LogitSlope:
    """A fitted fractional logit ``E[y | x] = expit(intercept + slope * x)``.

    Attributes:
        intercept: Fitted intercept.
        slope: Fitted slope.
        slope_se: Heteroskedasticity-robust (sandwich) standard error of the slope; NaN when not identified.
        n: Number of observations.
    """

    intercept: float
    slope: float
    slope_se: float
    n: int


def logit_slope(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> LogitSlope:
    """Fit a fractional logit of shares or probabilities ``y`` in [0, 1] on one regressor ``x`` (quasi-likelihood).

    Fitting probabilities rather than argmax choices keeps the estimate finite when every choice flips at a
    threshold. Newton's method on the Bernoulli quasi-log-likelihood, with step halving.

    Args:
        x: Regressor values, shape ``[N]``.
        y: Responses in [0, 1], shape ``[N]``.
        max_iter: Newton iterations at most.
        tol: Stop when the largest parameter change is below this.

    Returns:
        The fit. Under perfect separation the slope diverges; it is then reported as found after ``max_iter``
        iterations with an infinite standard error.

    Example:
        >>> from scipy.special import expit
        >>> x = np.linspace(-2, 2, 9)
        >>> round(logit_slope(x, expit(0.5 + 1.5 * x)).slope, 6)
        1.5

    References:
        Papke & Wooldridge (1996), Econometric methods for fractional response variables, J. Applied Econometrics
        11(6), sections 2-3 (quasi-likelihood and robust variance).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("y must lie in [0, 1]")
    design = np.column_stack([np.ones_like(x), x])
    if x.size < 2 or np.ptp(x) == 0:
        return LogitSlope(float("nan"), float("nan"), float("nan"), int(x.size))

    def loglik(beta: np.ndarray) -> float:
        eta = design @ beta
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    beta = np.zeros(2)
    for _ in range(max_iter):
        mu = expit(design @ beta)
        gradient = design.T @ (y - mu)
        hessian = design.T @ (design * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        scale, current = 1.0, loglik(beta)
        while loglik(beta + scale * step) < current - 1e-12 and scale > 1e-8:
            scale /= 2
        beta = beta + scale * step
        if np.max(np.abs(scale * step)) < tol:
            break
    mu = expit(design @ beta)
    bread = design.T @ (design * (mu * (1 - mu))[:, None])
    meat = design.T @ (design * ((y - mu) ** 2)[:, None])
    try:
        inverse = np.linalg.inv(bread)
        covariance = inverse @ meat @ inverse
        slope_se = float(math.sqrt(max(covariance[1, 1], 0.0)))
    except np.linalg.LinAlgError:
        slope_se = float("inf")
    if not np.isfinite(slope_se) or np.linalg.cond(bread) > 1e12:
        slope_se = float("inf")
    return LogitSlope(float(beta[0]), float(beta[1]), slope_se, int(x.size))
