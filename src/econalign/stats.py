"""Interval estimates and regressions shared by the stages: Wilson intervals, Student-t means, correlations, logits.

Pure numpy/scipy. Each function returns plain floats (JSON-able), so metrics and summaries can be written as they
are. The battery's metrics (``econalign.evaluate.metrics``) and the applications' summaries
(``econalign.applications``) both use this module.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special, stats

__all__ = [
    "LogitFit",
    "LogitSlope",
    "clustered_mean_interval",
    "clustered_wilson_bounds",
    "clustered_wilson_interval",
    "correlation",
    "coverage_label",
    "difference_interval",
    "fit_linear_probability",
    "fit_logit",
    "logit_slope",
    "mean_interval",
    "normal_critical_value",
    "wilson_bounds",
    "wilson_interval",
]


def coverage_label(confidence: float) -> str:
    """An interval's coverage as captions state it.

    >>> coverage_label(0.95), coverage_label(0.975)
    ('95%', '97.5%')
    """
    return f"{100 * confidence:g}%"


def normal_critical_value(confidence: float) -> float:
    """Two-sided standard-normal critical value: an estimate ``critical * se`` from 0 is significant at ``confidence``.

    >>> round(normal_critical_value(0.95), 4)
    1.96
    """
    return _z(confidence)


@functools.lru_cache(maxsize=256)
def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


@functools.lru_cache(maxsize=4096)
def _t(confidence: float, dof: float) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2.0, dof))


def wilson_interval(successes: int | float, n: int | float, *, confidence: float = 0.95) -> dict[str, Any]:
    """Rate with its Wilson score interval.

    The interval is the set of p whose score test does not reject at the given level:
    (p̂ − p)² ≤ z² p(1 − p) / n. Unlike the Wald interval it stays inside [0, 1] and keeps its coverage near
    0 and 1, where exact agents live.

    Args:
        successes: Number of successes (may be fractional for expected counts).
        n: Number of trials (may be fractional for an effective sample size); 0 gives a rate of None.
        confidence: Two-sided coverage.

    Returns:
        ``{"rate", "low", "high", "n", "successes"}``; rate and bounds are None when n is 0.

    Example:
        >>> r = wilson_interval(8, 10)
        >>> round(r["low"], 4), round(r["high"], 4)
        (0.4902, 0.9433)

    References:
        Wilson (1927), Probable inference, the law of succession, and statistical inference, JASA 22(158).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return {"rate": None, "low": None, "high": None, "n": 0, "successes": float(successes)}
    z = _z(confidence)
    p = successes / n
    denominator = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return {
        "rate": float(p),
        "low": float(max(0.0, center - half)),
        "high": float(min(1.0, center + half)),
        "n": int(n),
        "successes": float(successes),
    }


def wilson_bounds(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The bounds of ``wilson_interval`` alone, with the whole of [0, 1] when there are no trials.

    Args:
        successes: Number of successes x (0 <= x <= trials).
        trials: Number of trials n; with n = 0 the interval is (0, 1).
        confidence: Two-sided confidence level.

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = wilson_bounds(0, 10)
        >>> round(low, 4), round(high, 4)
        (0.0, 0.2775)

    References:
        Wilson (1927); Agresti & Coull (1998), Approximate is better than "exact", The American Statistician 52(2),
        eq. (4).
    """
    interval = wilson_interval(successes, trials, confidence=confidence)
    if interval["rate"] is None:
        _z(confidence)  # an invalid confidence is an error even without trials
        return 0.0, 1.0
    return interval["low"], interval["high"]


def _cluster_labels(clusters: Sequence[Any], count: int, what: str) -> np.ndarray:
    # Cluster labels as strings, one per value (or pair, or observation).
    labels = np.asarray([str(label) for label in clusters], dtype=object)
    if labels.shape != (count,):
        raise ValueError(f"{labels.size} cluster labels for {count} {what}")
    return labels


def _clustered_values(values: Any, clusters: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    # Values as float64 and their cluster labels as strings, NaN values dropped with their labels.
    x = np.asarray(values, dtype=np.float64).ravel()
    labels = _cluster_labels(clusters, x.size, "values")
    keep = ~np.isnan(x)
    return x[keep], labels[keep]


def clustered_wilson_interval(values: Any, clusters: Sequence[Any], *, confidence: float = 0.95) -> dict[str, Any]:
    """Rate of a 0/1 event with a Wilson interval on the effective sample size, for items that repeat in clusters.

    The variance of the rate is the cluster-robust one of :func:`clustered_mean_interval`; its ratio to the
    binomial variance, the design effect ``d`` (at least 1), shrinks the sample to ``n / d`` before the Wilson
    interval is taken (Korn & Graubard 1998). Where the rate is 0 or 1 the binomial variance vanishes and ``d`` is
    ``n / G``, the mean cluster size. With one value per cluster it equals :func:`wilson_interval`; when every
    value is copied equally often it is the Wilson interval of the values without copies, on one trial fewer.

    Args:
        values: 0/1 outcomes; NaNs are dropped with their cluster labels.
        clusters: One hashable label per value (e.g. the decision problem an item poses).
        confidence: Two-sided coverage.

    Returns:
        ``{"rate", "low", "high", "n", "successes", "clusters", "design_effect", "effective_n"}``.

    Example:
        >>> r = clustered_wilson_interval([1, 1, 0, 0, 1, 1], ["a", "a", "b", "b", "c", "c"])
        >>> round(r["effective_n"], 6), r["clusters"]
        (2.0, 3)

    References:
        Korn & Graubard (1998), Confidence intervals for proportions with small expected number of positive counts
        estimated from survey data, Survey Methodology 24(2).
    """
    x, labels = _clustered_values(values, clusters)
    if np.any((x != 0.0) & (x != 1.0)):
        raise ValueError("clustered_wilson_interval needs 0/1 outcomes")
    n, g = int(x.size), len(set(labels.tolist()))
    design_effect = 1.0
    if g < n:
        p = float(x.mean())
        binomial = p * (1.0 - p) / n
        robust = clustered_mean_interval(x, labels.tolist(), confidence=confidence)["se"]
        # At a rate of 0 or 1 (or a single cluster) the ratio is undefined; copies then add nothing: d = n / G.
        design_effect = max(1.0, robust**2 / binomial) if binomial > 0.0 and robust is not None else n / g
    effective_n = n / design_effect
    interval = wilson_interval(float(x.sum()) / design_effect, effective_n, confidence=confidence)
    return {
        **interval,
        "n": n,
        "successes": float(x.sum()),
        "clusters": g,
        "design_effect": design_effect,
        "effective_n": effective_n,
    }


def clustered_wilson_bounds(values: Any, clusters: Sequence[Any], *, confidence: float = 0.95) -> tuple[float, float]:
    """The bounds of :func:`clustered_wilson_interval` alone, with the whole of [0, 1] when there are no values.

    Example:
        >>> clustered_wilson_bounds([1, 0, 1], ["a", "b", "c"]) == wilson_bounds(2, 3)
        True
        >>> clustered_wilson_bounds([], [])
        (0.0, 1.0)
    """
    x, _ = _clustered_values(values, clusters)
    if x.size == 0:
        return wilson_bounds(0, 0, confidence=confidence)
    interval = clustered_wilson_interval(values, clusters, confidence=confidence)
    return interval["low"], interval["high"]


def mean_interval(values: Any, *, confidence: float = 0.95) -> dict[str, Any]:
    """Mean with a Student-t interval (for probability-weighted rates and regrets).

    Args:
        values: 1-D array; NaNs are dropped.
        confidence: Two-sided coverage.

    Returns:
        ``{"mean", "low", "high", "se", "n"}``; None entries when fewer than one (mean) or two (interval) values.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "se": None, "n": 0}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "se": None, "n": n}
    se = float(x.std(ddof=1) / math.sqrt(n))
    t = _t(confidence, n - 1)
    return {"mean": mean, "low": mean - t * se, "high": mean + t * se, "se": se, "n": n}


def clustered_mean_interval(values: Any, clusters: Sequence[Any], *, confidence: float = 0.95) -> dict[str, Any]:
    """Mean with a cluster-robust Student-t interval, for values that are not independent within a cluster.

    The variance is the CR1 sandwich of a regression on a constant, ``G / (G - 1) * sum_g (sum_{i in g} (x_i -
    mean))^2 / n^2`` over ``G`` clusters, and the t quantile uses ``G - 1`` degrees of freedom (Cameron & Miller
    2015). With one value per cluster it equals :func:`mean_interval`; values in one cluster are not independent
    evidence (when every value is copied equally often, the interval is that of the values without copies).

    Args:
        values: 1-D array; NaNs are dropped with their cluster labels.
        clusters: One hashable label per value (e.g. the decision problem an item poses).
        confidence: Two-sided coverage.

    Returns:
        ``{"mean", "low", "high", "se", "n", "clusters"}``; None entries when fewer than one value (mean) or two
        clusters (interval).

    Example:
        >>> r = clustered_mean_interval([1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b"])
        >>> r["mean"], r["se"], r["clusters"]
        (0.5, 0.5, 2)
    """
    x, labels = _clustered_values(values, clusters)
    n = int(x.size)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "se": None, "n": 0, "clusters": 0}
    _, cluster_index = np.unique(labels, return_inverse=True)
    g = int(cluster_index.max()) + 1
    mean = float(x.mean())
    if g < 2:
        return {"mean": mean, "low": None, "high": None, "se": None, "n": n, "clusters": g}
    sums = np.bincount(cluster_index, weights=x - mean, minlength=g)
    se = float(math.sqrt(g / (g - 1) * float(np.sum(sums**2))) / n)
    t = _t(confidence, g - 1)
    return {"mean": mean, "low": mean - t * se, "high": mean + t * se, "se": se, "n": n, "clusters": g}


def difference_interval(a: Any, b: Any, *, confidence: float = 0.95) -> dict[str, Any]:
    """Difference of two independent means, ``mean(a) - mean(b)``, with a Welch interval.

    For outcomes replicated in independent runs (e.g. pricing episodes), where the two groups may differ in
    spread and size: the standard error is sqrt(s_a^2/n_a + s_b^2/n_b) and the t quantile uses the
    Welch-Satterthwaite degrees of freedom.

    Args:
        a: 1-D array; NaNs are dropped.
        b: 1-D array; NaNs are dropped.
        confidence: Two-sided coverage.

    Returns:
        ``{"gap", "low", "high", "se", "dof", "n_a", "n_b"}``; ``gap`` is None when a group is empty, the interval
        entries when a group has fewer than two values (no spread to estimate). Two groups without any spread
        give a zero-width interval: replications that never differ (a deterministic simulation, such as pricing
        at temperature 0, replays the same episode) leave no doubt about the gap.
    """
    _z(confidence)  # validates it
    x, y = (np.asarray(v, dtype=np.float64).ravel() for v in (a, b))
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    out: dict[str, Any] = dict.fromkeys(("gap", "low", "high", "se", "dof")) | {"n_a": x.size, "n_b": y.size}
    if x.size == 0 or y.size == 0:
        return out
    out["gap"] = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return out
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return out | {"low": out["gap"], "high": out["gap"], "se": 0.0, "dof": float(x.size + y.size - 2)}
    dof = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = _t(confidence, dof) * se
    return out | {"low": out["gap"] - half, "high": out["gap"] + half, "se": se, "dof": float(dof)}


@dataclasses.dataclass(frozen=True)
class LogitFit:
    """A fitted logit (or linear probability model) with heteroskedasticity-robust (HC1) standard errors.

    Attributes:
        names: Coefficient names, ``"const"`` first.
        coef: Estimates, shape ``[K]``.
        se: HC1 standard errors, shape ``[K]``.
        n: Number of observations.
        separated: True when the unpenalised logit has no finite maximum (binary outcomes split by a linear
            predictor, or fractional ones whose fit saturates): the estimate is then the Firth-penalised one, whose
            sign is meaningful but whose size reflects the penalty.
        converged: Whether Newton's method met its tolerance.
        constant: True when the outcome never varies. A logit's coefficients are then NaN (None in ``to_dict``):
            nothing ties the outcome to a covariate, and at 0 or 1 only the intercept's divergence raises the
            likelihood, so a slope (Firth's included: its sign is an artefact of the penalty) is not identified.
            A linear probability model's slopes are exactly 0 (no response on the rate scale).
    """

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    n: int
    separated: bool = False
    converged: bool = True
    constant: bool = False

    def to_dict(self, *, confidence: float = 0.95) -> dict[str, Any]:
        """JSON-able form: per coefficient its estimate, SE, z, p-value and interval (None where undefined)."""
        z = _z(confidence)
        out: dict[str, Any] = {
            "n": self.n,
            "separated": self.separated,
            "converged": self.converged,
            "constant": self.constant,
            "coef": {},
        }
        for name, b, s in zip(self.names, self.coef, self.se, strict=True):
            finite = bool(np.isfinite(b) and np.isfinite(s) and s > 0)
            out["coef"][name] = {
                "estimate": float(b) if np.isfinite(b) else None,
                "se": float(s) if np.isfinite(s) else None,
                "z": float(b / s) if finite else None,
                "p_value": float(2.0 * stats.norm.sf(abs(b / s))) if finite else None,
                "low": float(b - z * s) if finite else None,
                "high": float(b + z * s) if finite else None,
            }
        return out


def _design(x: Any, names: tuple[str, ...] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    names = names or tuple(f"x{k}" for k in range(x.shape[1]))
    if len(names) != x.shape[1]:
        raise ValueError(f"got {len(names)} names for {x.shape[1]} covariates")
    return np.column_stack([np.ones(len(x)), x]), ("const", *names)


def _hc1(design: np.ndarray, bread: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    # White (1980) sandwich with the small-sample factor n / (n - k) (MacKinnon & White 1985, HC1).
    n, k = design.shape
    meat = (design * residuals[:, None] ** 2).T @ design
    cov = bread @ meat @ bread * (n / max(n - k, 1))
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def fit_logit(
    x: Any,
    y: Any,
    *,
    names: tuple[str, ...] | None = None,
    firth: bool | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogitFit:
    """Logit of an outcome in [0, 1] on covariates, by Newton's method, with HC1 robust standard errors.

    Fractional outcomes (choice probabilities) are allowed: the Bernoulli quasi-likelihood gives consistent
    estimates of E[y | x] = σ(xβ) and the sandwich gives valid errors (Papke & Wooldridge 1996). With Firth's
    penalty the log-likelihood is penalised by ½ log det(XᵀWX) (Jeffreys prior), so the estimate stays finite
    when a binary outcome is perfectly separated, as it is for a deterministic theory. An outcome that never varies
    (a rule that always defects) identifies no slope: the fit is flagged ``constant``, with NaN coefficients, and
    not ``separated``.

    Args:
        x: Covariates ``[N]`` or ``[N, K]`` (an intercept is added).
        y: Outcomes in [0, 1], shape ``[N]``.
        names: Covariate names (default x0, x1, ...).
        firth: Use Firth's bias-reducing penalty; None (default) uses it for binary outcomes, and for fractional
            outcomes only when the unpenalised fit diverges (otherwise the penalty would needlessly shrink it).
        max_iter: Newton iterations.
        tol: Convergence tolerance on the step's max norm.

    Returns:
        The fit; ``coef`` and ``se`` have the intercept first (NaN when ``constant``).

    References:
        Firth (1993), Bias reduction of maximum likelihood estimates, Biometrika 80(1); Papke & Wooldridge
        (1996), Econometric methods for fractional response variables, J. Applied Econometrics 11(6);
        MacKinnon & White (1985), J. Econometrics 29(3) (HC1).
    """
    design, names = _design(x, names)
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != design.shape[0]:
        raise ValueError(f"x has {design.shape[0]} rows but y has {y.shape[0]}")
    if np.any((y < 0) | (y > 1)) or np.any(np.isnan(y)):
        raise ValueError("y must lie in [0, 1] without NaNs")
    if y.size and np.ptp(y) == 0:
        # No variation to explain: any fitted slope would come from the penalty or the stopping rule, not the data.
        unidentified = np.full(design.shape[1], np.nan)
        return LogitFit(names=names, coef=unidentified, se=unidentified.copy(), n=len(y), constant=True)
    binary = bool(np.all((y == 0.0) | (y == 1.0)))
    diverged = False
    if firth is None and not binary:
        beta, converged = _newton(design, y, firth=False, max_iter=max_iter, tol=tol)
        # Saturated fitted probabilities (|xβ| > 25, p < 1e-11) mean the quasi-likelihood keeps rising along a
        # separating direction (a deterministic rule with a mixed point on its threshold): penalise instead.
        diverged = not converged or float(np.max(np.abs(design @ beta))) > _SATURATED
        firth = diverged
    if firth is None or firth:
        beta, converged = _newton(design, y, firth=True, max_iter=max_iter, tol=tol)
    else:
        beta, converged = _newton(design, y, firth=False, max_iter=max_iter, tol=tol)
    p = special.expit(design @ beta)
    w = p * (1.0 - p)
    bread = np.linalg.pinv((design * w[:, None]).T @ design)
    se = _hc1(design, bread, y - p)
    separated = diverged or _separated(design @ beta, y)
    return LogitFit(names=names, coef=beta, se=se, n=len(y), separated=separated, converged=converged)


_SATURATED = 25.0


def _newton(design: np.ndarray, y: np.ndarray, *, firth: bool, max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    beta = np.zeros(design.shape[1])
    for _ in range(max_iter):
        p = special.expit(design @ beta)
        w = p * (1.0 - p)
        info_inv = np.linalg.pinv((design * w[:, None]).T @ design)
        score_residual = y - p
        if firth:
            # h_i: leverages of W^½ X (XᵀWX)⁻¹ XᵀW^½; Firth's modified score adds h_i (½ − p_i).
            h = np.einsum("ij,jk,ik->i", design, info_inv, design) * w
            score_residual = score_residual + h * (0.5 - p)
        step = info_inv @ (design.T @ score_residual)
        # Cap long steps: the (penalised) likelihood is concave, but early Newton steps can overshoot.
        largest = float(np.max(np.abs(step)))
        if largest > 5.0:
            step *= 5.0 / largest
        beta = beta + step
        if largest < tol:
            return beta, True
    return beta, False


def _separated(eta: np.ndarray, y: np.ndarray) -> bool:
    # Binary outcomes that a linear predictor splits (every success at or above every failure) have no finite
    # maximum likelihood estimate (Albert & Anderson 1984); the Firth estimate points along such a direction.
    # (Exactly constant outcomes never get here: fit_logit flags them ``constant`` before fitting.)
    binary = (y < 1e-12) | (y > 1 - 1e-12)
    if not np.all(binary):
        return False
    ones, zeros = eta[y > 0.5], eta[y < 0.5]
    if ones.size == 0 or zeros.size == 0:
        return True
    return bool(ones.min() >= zeros.max())


def _cr1(design: np.ndarray, bread: np.ndarray, residuals: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # Liang & Zeger (1986) sandwich summed over clusters, with the small-sample factor G/(G-1) (n-1)/(n-k) (CR1,
    # Stata's default); with one observation per cluster it equals HC1.
    n, k = design.shape
    _, cluster_of = np.unique(labels, return_inverse=True)
    groups = int(cluster_of.max()) + 1
    scores = np.zeros((groups, k))
    np.add.at(scores, cluster_of, design * residuals[:, None])
    factor = groups / max(groups - 1, 1) * (n - 1) / max(n - k, 1)
    cov = bread @ (scores.T @ scores) @ bread * factor
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def fit_linear_probability(
    x: Any, y: Any, *, names: tuple[str, ...] | None = None, clusters: Sequence[Any] | None = None
) -> LogitFit:
    """Ordinary least squares of an outcome on covariates, with HC1 (or cluster-robust CR1) standard errors.

    The linear probability model gives a slope in "change in the choice rate per unit of the covariate" that
    stays finite for deterministic rules, so an agent's slope and the theory's can be compared on one scale.

    Args:
        x: Covariates ``[N]`` or ``[N, K]`` (an intercept is added).
        y: Outcomes, shape ``[N]``.
        names: Covariate names.
        clusters: One label per observation; observations sharing a label (a decision problem posed twice) are
            one independent unit of the cluster-robust errors. None: every observation is its own (HC1).

    Returns:
        The fit (``separated`` is always False; a constant outcome gets exact zero slopes, flagged ``constant``).

    References:
        Liang & Zeger (1986), Longitudinal data analysis using generalized linear models, Biometrika 73(1);
        Cameron & Miller (2015), A practitioner's guide to cluster-robust inference, J. Human Resources 50(2).
    """
    design, names = _design(x, names)
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != design.shape[0]:
        raise ValueError(f"x has {design.shape[0]} rows but y has {y.shape[0]}")
    labels = None if clusters is None else _cluster_labels(clusters, y.size, "observations")
    if y.size and np.ptp(y) == 0:
        # Exact zeros: least squares through a pseudo-inverse leaves rounding noise, which can print as -0.00.
        coef = np.zeros(design.shape[1])
        coef[0] = y[0]
        return LogitFit(names=names, coef=coef, se=np.zeros_like(coef), n=len(y), constant=True)
    bread = np.linalg.pinv(design.T @ design)
    beta = bread @ design.T @ y
    residuals = y - design @ beta
    se = _hc1(design, bread, residuals) if labels is None else _cr1(design, bread, residuals, labels)
    return LogitFit(names=names, coef=beta, se=se, n=len(y))


def correlation(x: Any, y: Any, *, confidence: float = 0.95, clusters: Sequence[Any] | None = None) -> dict[str, Any]:
    """Pearson correlation with a Fisher-z interval, and Spearman's rank correlation.

    Where ``clusters`` shows pairs that repeat one decision problem, the interval is taken on the effective sample
    size ``n / d``, as :func:`clustered_wilson_interval` does for rates: ``d`` (at least 1) is the design effect of
    the mean of r's influence function ``z_x z_y - r (z_x^2 + z_y^2) / 2`` on the standardised values, i.e. the
    cluster-robust variance of that mean over its independent one. With one pair per cluster the interval is the
    plain Fisher-z one.

    Args:
        x: 1-D array.
        y: 1-D array of the same length; pairs with a NaN are dropped.
        confidence: Two-sided coverage of the Pearson interval.
        clusters: One label per pair (e.g. the decision problem an item poses), or None for independent pairs.

    Returns:
        ``{"pearson", "low", "high", "spearman", "n"}``, with ``"design_effect"`` and ``"effective_n"`` when
        ``clusters`` repeat; None where undefined (n < 3 or a constant input).

    References:
        Fisher (1921), On the probable error of a coefficient of correlation, Metron 1.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    keep = ~(np.isnan(x) | np.isnan(y))
    labels = None
    if clusters is not None:
        labels = _cluster_labels(clusters, x.size, "pairs")[keep]
    x, y = x[keep], y[keep]
    n = int(x.size)
    out: dict[str, Any] = {"pearson": None, "low": None, "high": None, "spearman": None, "n": n}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    r = float(np.corrcoef(x, y)[0, 1])
    out["pearson"] = r
    out["spearman"] = float(stats.spearmanr(x, y).statistic)
    effective_n = float(n)
    if labels is not None and len(set(labels.tolist())) < n:
        # r's influence function on standardised values: the design effect of its mean is that of r.
        zx, zy = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
        influence = zx * zy - r * (zx**2 + zy**2) / 2.0
        robust = clustered_mean_interval(influence, labels.tolist(), confidence=confidence)["se"]
        independent = mean_interval(influence, confidence=confidence)["se"]
        # A single cluster, or an influence without spread, leave the ratio undefined: count each cluster once.
        groups = len(set(labels.tolist()))
        defined = robust is not None and independent is not None and independent > 0.0
        design_effect = max(1.0, (robust / independent) ** 2) if defined else n / groups
        effective_n = n / design_effect
        out["design_effect"], out["effective_n"] = design_effect, effective_n
    if effective_n > 3:
        z = math.atanh(min(max(r, -1 + 1e-15), 1 - 1e-15))
        half = _z(confidence) / math.sqrt(effective_n - 3)
        out["low"], out["high"] = math.tanh(z - half), math.tanh(z + half)
    return out


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
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    clusters: Sequence[Any] | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogitSlope:
    """Fit a fractional logit of shares or probabilities ``y`` in [0, 1] on one regressor ``x`` (quasi-likelihood).

    Fitting probabilities rather than argmax choices keeps the estimate finite when every choice flips at a
    threshold. Newton's method on the Bernoulli quasi-log-likelihood, with step halving. The standard error is the
    sandwich (HC0); with ``clusters``, the cluster-robust sandwich, whose meat sums the scores within each cluster,
    times ``G / (G - 1)`` (CR1, as :func:`clustered_mean_interval`): when every observation is copied equally often
    within its cluster, it is the HC0 error of the observations without copies times ``sqrt(G / (G - 1))``.

    Args:
        x: Regressor values, shape ``[N]``.
        y: Responses in [0, 1], shape ``[N]``.
        clusters: One hashable label per observation (e.g. the decision problem a scenario poses), or None.
        max_iter: Newton iterations at most.
        tol: Stop when the largest parameter change is below this.

    Returns:
        The fit. Under perfect separation the slope diverges; it is then reported as found after ``max_iter``
        iterations with an infinite standard error. Without variation in ``x`` or in ``y`` no slope is identified:
        intercept, slope and standard error are NaN.

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
    if not np.all((y >= 0) & (y <= 1)):  # written so that NaN fails too
        raise ValueError("y must lie in [0, 1]")
    labels = None if clusters is None else _cluster_labels(clusters, y.size, "observations")
    design = np.column_stack([np.ones_like(x), x])
    # No slope is identified without variation in x, nor in y (as fit_logit's ``constant``): at 0 or 1 the
    # likelihood only pushes the intercept to infinity, and a fitted slope of ~0 with an infinite error would read
    # as a measured non-response.
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return LogitSlope(float("nan"), float("nan"), float("nan"), int(x.size))

    def loglik(beta: np.ndarray) -> float:
        eta = design @ beta
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    beta = np.zeros(2)
    for _ in range(max_iter):
        mu = special.expit(design @ beta)
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
    mu = special.expit(design @ beta)
    bread = design.T @ (design * (mu * (1 - mu))[:, None])
    scores = design * (y - mu)[:, None]
    if labels is None:
        meat = scores.T @ scores
    else:
        _, index = np.unique(labels, return_inverse=True)
        g = int(index.max()) + 1
        sums = np.zeros((g, 2))
        np.add.at(sums, index, scores)
        meat = sums.T @ sums * (g / (g - 1) if g > 1 else float("inf"))
    try:
        inverse = np.linalg.inv(bread)
        covariance = inverse @ meat @ inverse
        slope_se = float(math.sqrt(max(covariance[1, 1], 0.0)))
    except np.linalg.LinAlgError:
        slope_se = float("inf")
    if not np.isfinite(slope_se) or np.linalg.cond(bread) > 1e12:
        slope_se = float("inf")
    return LogitSlope(float(beta[0]), float(beta[1]), slope_se, int(x.size))
