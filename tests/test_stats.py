"""Interval estimates and regressions against closed forms, scipy, hand computations and simulated data."""

import math

import numpy as np
import pytest
from scipy import optimize, special, stats
from scipy.stats import binomtest

from econalign.stats import (
    clustered_mean_interval,
    correlation,
    difference_interval,
    fit_linear_probability,
    fit_logit,
    logit_slope,
    mean_interval,
    wilson_bounds,
    wilson_interval,
)


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (37, 100), (1, 3)])
def test_wilson_bounds_solve_the_score_test_quadratic(successes, n):
    # The Wilson bounds are the roots in p of (p_hat - p)^2 = z^2 p (1 - p) / n.
    z = stats.norm.ppf(0.975)
    p_hat = successes / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    roots = sorted(np.roots([a, b, c]).real)
    result = wilson_interval(successes, n)
    assert result["rate"] == pytest.approx(p_hat)
    assert result["low"] == pytest.approx(max(0.0, roots[0]), abs=1e-12)
    assert result["high"] == pytest.approx(min(1.0, roots[1]), abs=1e-12)


def test_wilson_empty_and_invalid():
    assert wilson_interval(0, 0)["rate"] is None
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_mean_interval_matches_student_t():
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.2, np.nan])
    result = mean_interval(x, confidence=0.9)
    clean = x[~np.isnan(x)]
    low, high = stats.t.interval(0.9, len(clean) - 1, loc=clean.mean(), scale=stats.sem(clean))
    assert result["n"] == 5
    assert result["low"] == pytest.approx(low)
    assert result["high"] == pytest.approx(high)


def test_difference_interval_matches_scipy_welch():
    a = np.array([1.62, 1.55, 1.71, np.nan, 1.58])
    b = np.array([1.49, 1.52, 1.47, 1.60, 1.51, 1.44])
    result = difference_interval(a, b, confidence=0.9)
    welch = stats.ttest_ind(a[~np.isnan(a)], b, equal_var=False)
    reference = welch.confidence_interval(confidence_level=0.9)
    assert (result["n_a"], result["n_b"]) == (4, 6)
    assert result["gap"] == pytest.approx(np.nanmean(a) - b.mean())
    assert result["low"] == pytest.approx(reference.low)
    assert result["high"] == pytest.approx(reference.high)
    assert result["dof"] == pytest.approx(welch.df)
    assert result["gap"] / result["se"] == pytest.approx(welch.statistic)


def test_difference_interval_edge_cases():
    assert difference_interval([], [1.0, 2.0])["gap"] is None
    one = difference_interval([2.0], [1.0, 1.5])
    assert one["gap"] == pytest.approx(0.75) and one["low"] is None and one["se"] is None
    flat = difference_interval([2.0, 2.0, 2.0], [1.0, 1.0])  # identical replications: no spread at all
    assert (flat["low"], flat["high"], flat["se"]) == (1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="confidence"):
        difference_interval([1.0, 2.0], [1.0, 2.0], confidence=1.5)


def _sandwich_by_hand(design, residuals, weights):
    # HC1 written out observation by observation: (n/(n-k)) B^-1 (sum e_i^2 x_i x_i') B^-1, B = sum w_i x_i x_i'.
    n, k = design.shape
    bread = np.zeros((k, k))
    meat = np.zeros((k, k))
    for x_i, e_i, w_i in zip(design, residuals, weights, strict=True):
        bread += w_i * np.outer(x_i, x_i)
        meat += e_i**2 * np.outer(x_i, x_i)
    inverse = np.linalg.inv(bread)
    return np.sqrt(np.diag(inverse @ meat @ inverse * n / (n - k)))


def test_logit_matches_direct_likelihood_maximisation_and_hand_sandwich():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0.2, 1.1, 2.7])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    fit = fit_logit(x, y, names=("x",), firth=False)
    design = np.column_stack([np.ones_like(x), x])

    def negative_loglik(beta):
        eta = design @ beta
        return -np.sum(y * eta - np.logaddexp(0.0, eta))

    direct = optimize.minimize(negative_loglik, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(fit.coef, direct, atol=1e-5)
    p = special.expit(design @ fit.coef)
    np.testing.assert_allclose(fit.se, _sandwich_by_hand(design, y - p, p * (1 - p)), rtol=1e-8)
    assert fit.names == ("const", "x") and not fit.separated


def _negative_firth_likelihood(design, y):
    """Minus the Jeffreys-penalised Bernoulli log-likelihood, written out for a direct optimiser."""

    def negative_penalised(beta):
        eta = design @ beta
        p = special.expit(eta)
        info = (design * (p * (1 - p))[:, None]).T @ design
        return -(np.sum(y * eta - np.logaddexp(0.0, eta)) + 0.5 * np.linalg.slogdet(info)[1])

    return negative_penalised


def test_firth_logit_maximises_the_jeffreys_penalised_likelihood():
    x = np.array([0.0, 0.3, 0.6, 0.9, 1.2, 1.5])
    y = np.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    design = np.column_stack([np.ones_like(x), x])

    direct = optimize.minimize(
        _negative_firth_likelihood(design, y),
        np.zeros(2),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12},
    ).x
    np.testing.assert_allclose(fit_logit(x, y, firth=True).coef, direct, atol=1e-4)


def test_logit_recovers_a_known_slope_from_simulated_choices():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=4000)
    y = (rng.uniform(size=x.size) < special.expit(-0.5 + 2.0 * x)).astype(float)
    fit = fit_logit(x, y, names=("x",))
    assert abs(fit.coef[1] - 2.0) < 4 * fit.se[1]
    assert abs(fit.coef[0] + 0.5) < 4 * fit.se[0]
    assert 0.03 < fit.se[1] < 0.2


def test_fractional_logit_recovers_the_slope_of_probabilities():
    x = np.linspace(-2, 2, 50)
    y = special.expit(0.3 - 1.5 * x)  # noiseless probabilities: the quasi-MLE is exact
    fit = fit_logit(x, y, firth=False)
    np.testing.assert_allclose(fit.coef, [0.3, -1.5], atol=1e-8)


def test_separated_choices_stay_finite_with_the_right_sign():
    x = np.linspace(0, 1, 20)
    y = (x < 0.42).astype(float)
    fit = fit_logit(x, y, names=("temptation",))
    assert fit.separated
    assert np.all(np.isfinite(fit.coef)) and fit.coef[1] < 0
    assert not fit_logit(x, np.where(np.arange(20) % 3 == 0, 1.0 - y, y)).separated


def test_linear_probability_matches_least_squares_and_hand_sandwich():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    y = (x[:, 0] + rng.normal(size=30) > 0).astype(float)
    fit = fit_linear_probability(x, y, names=("a", "b"))
    design = np.column_stack([np.ones(30), x])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(fit.coef, beta, atol=1e-10)
    np.testing.assert_allclose(fit.se, _sandwich_by_hand(design, y - design @ beta, np.ones(30)), rtol=1e-8)
    described = fit.to_dict()
    assert described["coef"]["a"]["estimate"] == pytest.approx(beta[1])
    assert described["coef"]["a"]["low"] < beta[1] < described["coef"]["a"]["high"]


def _cluster_sandwich_by_hand(design, residuals, clusters):
    # CR1 written out cluster by cluster: G/(G-1) (n-1)/(n-k) B^-1 (sum_g s_g s_g') B^-1, s_g = sum_{i in g} e_i x_i.
    n, k = design.shape
    bread = np.linalg.inv(design.T @ design)
    meat = np.zeros((k, k))
    names = sorted(set(clusters))
    for name in names:
        score = sum(e_i * x_i for x_i, e_i, c in zip(design, residuals, clusters, strict=True) if c == name)
        meat += np.outer(score, score)
    g = len(names)
    return np.sqrt(np.diag(bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - k)))


def test_clustered_linear_probability_matches_hand_sandwich_and_hc1_for_singletons():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 2))
    y = x[:, 0] + rng.normal(size=40)
    clusters = [f"g{i // 3}" for i in range(40)]  # 13 triples and a single
    fit = fit_linear_probability(x, y, names=("a", "b"), clusters=clusters)
    design = np.column_stack([np.ones(40), x])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(fit.coef, beta, atol=1e-10)
    np.testing.assert_allclose(fit.se, _cluster_sandwich_by_hand(design, y - design @ beta, clusters), rtol=1e-8)
    singletons = fit_linear_probability(x, y, names=("a", "b"), clusters=range(40))
    np.testing.assert_allclose(singletons.se, fit_linear_probability(x, y, names=("a", "b")).se, rtol=1e-10)
    with pytest.raises(ValueError, match="39 cluster labels for 40 observations"):
        fit_linear_probability(x, y, clusters=range(39))


def test_clustered_errors_do_not_count_a_copied_observation_twice():
    # Posing every decision problem twice adds no information: HC1 on the copies shrinks the errors by about
    # sqrt(2), the errors clustered by problem stay close to those of the data without copies.
    rng = np.random.default_rng(5)
    x = rng.normal(size=60)
    y = 0.5 * x + rng.normal(size=60)
    once = fit_linear_probability(x, y)
    twice_x, twice_y = np.concatenate([x, x]), np.concatenate([y, y])
    naive = fit_linear_probability(twice_x, twice_y)
    clustered = fit_linear_probability(twice_x, twice_y, clusters=[*range(60), *range(60)])
    np.testing.assert_allclose(clustered.coef, once.coef, atol=1e-10)
    np.testing.assert_allclose(naive.se * math.sqrt(2), once.se, rtol=0.03)
    np.testing.assert_allclose(clustered.se, once.se, rtol=0.03)


def test_correlation_and_fisher_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    result = correlation(x, y)
    r = stats.pearsonr(x, y).statistic
    half = stats.norm.ppf(0.975) / math.sqrt(37)
    assert result["pearson"] == pytest.approx(r)
    assert result["low"] == pytest.approx(math.tanh(math.atanh(r) - half))
    assert result["high"] == pytest.approx(math.tanh(math.atanh(r) + half))
    assert result["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert correlation(np.ones(5), np.arange(5.0))["pearson"] is None


def test_clustered_correlation_counts_a_repeated_problem_on_its_effective_sample():
    rng = np.random.default_rng(3)
    g = 30
    x = rng.normal(size=g)
    y = 0.5 * x + rng.normal(size=g)
    plain = correlation(x, y)
    # One pair per cluster: the plain Fisher-z interval, no design effect recorded.
    assert correlation(x, y, clusters=range(g)) == plain
    # Every pair posed twice: r is unchanged; the products' clustered variance over their independent one is
    # (2g - 1) / (g - 1) (worked by hand from the CR1 and ddof-1 variances), so n_eff = 2g (g - 1) / (2g - 1).
    twice = correlation(np.tile(x, 2), np.tile(y, 2), clusters=[*range(g), *range(g)])
    effective_n = 2 * g * (g - 1) / (2 * g - 1)
    half = stats.norm.ppf(0.975) / math.sqrt(effective_n - 3)
    r = stats.pearsonr(x, y).statistic
    assert twice["pearson"] == pytest.approx(r) and twice["n"] == 2 * g
    assert twice["design_effect"] == pytest.approx((2 * g - 1) / (g - 1))
    assert (twice["low"], twice["high"]) == pytest.approx(
        (math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half))
    )
    # Close to the interval of the pairs without copies, far wider than counting the copies as independent.
    naive = correlation(np.tile(x, 2), np.tile(y, 2))
    assert twice["high"] - twice["low"] == pytest.approx(plain["high"] - plain["low"], rel=0.03)
    assert twice["high"] - twice["low"] > 1.3 * (naive["high"] - naive["low"])
    with pytest.raises(ValueError, match="2 cluster labels for 3 pairs"):
        correlation([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], clusters=["a", "b"])


def test_fractional_outcomes_without_a_finite_maximum_fall_back_to_firth():
    # A theory's strategy: pure answers that flip at a threshold, one mixed equilibrium at the threshold.
    x = np.linspace(0.0, 1.0, 9)
    y = np.array([1.0, 1.0, 1.0, 1.0, 2.0 / 3.0, 0.0, 0.0, 0.0, 0.0])
    fit = fit_logit(x, y)
    assert fit.separated and fit.converged
    assert np.all(np.isfinite(fit.coef)) and fit.coef[1] < -5
    np.testing.assert_allclose(fit.coef, fit_logit(x, y, firth=True).coef)
    plain = fit_logit(x, y, firth=False)  # the quasi-likelihood keeps rising along the separating direction
    assert np.max(np.abs(plain.coef)) > 10 * np.max(np.abs(fit.coef))


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (3, 10), (10, 10), (76, 100), (1, 3)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_bounds_match_scipy(successes, trials, confidence):
    expected = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_bounds(successes, trials, confidence=confidence) == pytest.approx((expected.low, expected.high))


def test_wilson_bounds_edge_cases():
    assert wilson_bounds(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_bounds(4, 3)


def test_logit_slope_recovers_exact_probabilities():
    x = np.linspace(-1, 3, 25)
    fit = logit_slope(x, special.expit(-0.7 + 1.3 * x))
    assert fit.intercept == pytest.approx(-0.7, abs=1e-7)
    assert fit.slope == pytest.approx(1.3, abs=1e-7)
    assert fit.slope_se == pytest.approx(0.0, abs=1e-6)


def test_logit_slope_matches_scipy_and_the_hand_sandwiches():
    """Noisy shares with a known slope: the estimate maximises the Bernoulli quasi-log-likelihood (scipy), the SE is
    the HC0 sandwich, and with clusters of unequal size the cluster sum of scores times G / (G - 1) (its docstring)."""
    rng = np.random.default_rng(12)
    n = 90
    x = rng.normal(size=n)
    y = np.clip(special.expit(-0.4 + 1.2 * x) + rng.normal(scale=0.12, size=n), 0.0, 1.0)
    design = np.column_stack([np.ones(n), x])

    def negative_loglik(beta):
        eta = design @ beta
        return -np.sum(y * eta - np.logaddexp(0.0, eta))

    direct = optimize.minimize(negative_loglik, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    fit = logit_slope(x, y)
    assert (fit.intercept, fit.slope) == pytest.approx(tuple(direct), abs=1e-5)
    assert abs(fit.slope - 1.2) < 4 * fit.slope_se and fit.n == n

    p = special.expit(design @ direct)
    bread = sum(p_i * (1 - p_i) * np.outer(x_i, x_i) for x_i, p_i in zip(design, p, strict=True))
    inverse = np.linalg.inv(bread)
    meat = sum(e_i**2 * np.outer(x_i, x_i) for x_i, e_i in zip(design, y - p, strict=True))
    assert fit.slope_se == pytest.approx(math.sqrt((inverse @ meat @ inverse)[1, 1]), rel=1e-5)

    clusters = [f"g{i % 7}" if i < 60 else f"h{i % 11}" for i in range(n)]  # 18 clusters of 2 to 9 observations
    groups = sorted(set(clusters))
    meat = np.zeros((2, 2))
    for group in groups:
        score = sum((y_i - p_i) * x_i for x_i, y_i, p_i, c in zip(design, y, p, clusters, strict=True) if c == group)
        meat += np.outer(score, score)
    clustered = logit_slope(x, y, clusters=clusters)
    g = len(groups)
    assert clustered.slope == pytest.approx(fit.slope, rel=1e-12)
    assert clustered.slope_se == pytest.approx(math.sqrt((inverse @ meat @ inverse)[1, 1] * g / (g - 1)), rel=1e-5)


def test_logit_slope_on_bernoulli_draws_covers_the_truth():
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    y = (rng.random(4000) < special.expit(0.2 + 0.8 * x)).astype(float)
    fit = logit_slope(x, y)
    assert abs(fit.slope - 0.8) < 4 * fit.slope_se
    assert 0 < fit.slope_se < 0.1


def test_logit_slope_without_variation_in_x_is_nan():
    assert np.isnan(logit_slope([1.0, 1.0, 1.0], [0.1, 0.5, 0.9]).slope)


@pytest.mark.parametrize("level", [0.0, 1.0, 0.3])
def test_logit_slope_of_a_constant_response_is_nan_not_a_zero_slope(level):
    # An agent that always swerves did not "not respond": nothing identifies a slope (fit_logit flags the same).
    fit = logit_slope(np.linspace(0.0, 2.0, 9), np.full(9, level), clusters=np.arange(9) % 3)
    assert np.isnan(fit.intercept) and np.isnan(fit.slope) and np.isnan(fit.slope_se) and fit.n == 9
    varied = logit_slope(np.linspace(0.0, 2.0, 9), np.where(np.arange(9) == 4, 0.5, level))
    assert np.isfinite(varied.slope)


def test_docstring_examples_run():
    import doctest

    import econalign.stats

    result = doctest.testmod(econalign.stats, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("level", [0.0, 1.0, 0.3])
def test_a_constant_outcome_identifies_no_logit_slope(level):
    # A rule that always defects: before, Firth's penalty gave it a slope whose sign meant nothing.
    x = np.column_stack([np.linspace(0, 1, 12), np.arange(12.0) % 3])
    y = np.full(12, level)
    fit = fit_logit(x, y, names=("temptation", "belief"))
    assert fit.constant and not fit.separated
    assert np.all(np.isnan(fit.coef)) and np.all(np.isnan(fit.se))
    described = fit.to_dict()
    assert described["constant"] is True
    assert all(value is None for coef in described["coef"].values() for value in coef.values())
    assert not fit_logit(x, np.where(np.arange(12) == 5, 1.0 - level, level)).constant


@pytest.mark.parametrize("level", [0.0, 1.0, 0.3])
def test_a_constant_outcome_has_exactly_zero_rate_slopes(level):
    x = np.column_stack([np.linspace(0, 1, 12), np.arange(12.0) % 3])
    y = np.full(12, level)
    fit = fit_linear_probability(x, y, names=("temptation", "belief"))
    reference, *_ = np.linalg.lstsq(np.column_stack([np.ones(12), x]), y, rcond=None)
    np.testing.assert_allclose(fit.coef, reference, atol=1e-12)
    assert fit.constant and fit.coef.tolist() == [level, 0.0, 0.0]  # exact: no -0.00 from rounding noise
    described = fit.to_dict()["coef"]["temptation"]
    assert described["estimate"] == 0.0 and described["z"] is None and described["low"] is None


def test_separated_but_varying_choices_keep_the_penalised_estimate_and_sign():
    # Two covariates, choices split by the first: the Firth estimate is the penalised likelihood's maximum.
    x = np.column_stack([np.linspace(0, 1, 12), np.arange(12.0) % 3])
    y = (x[:, 0] < 0.42).astype(float)
    design = np.column_stack([np.ones(12), x])

    direct = optimize.minimize(
        _negative_firth_likelihood(design, y),
        np.zeros(3),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    ).x
    fit = fit_logit(x, y, names=("temptation", "belief"))
    assert fit.separated and not fit.constant
    np.testing.assert_allclose(fit.coef, direct, atol=1e-3)
    described = fit.to_dict()
    assert described["separated"] and not described["constant"]
    assert described["coef"]["temptation"]["estimate"] < 0


def test_clustered_mean_interval_is_the_cr1_sandwich():
    rng = np.random.default_rng(11)
    clusters = np.repeat(np.arange(12), rng.integers(1, 5, 12))
    x = rng.normal(size=clusters.size) + rng.normal(size=12)[clusters]  # correlated within a cluster
    result = clustered_mean_interval(x, clusters.tolist(), confidence=0.9)
    # Reference: OLS of x on a constant, sandwich variance with Stata's CR1 factor G/(G-1) * (N-1)/(N-K), K = 1.
    design = np.ones((x.size, 1))
    bread = np.linalg.inv(design.T @ design)
    residuals = x - design @ (bread @ design.T @ x)
    meat = sum(
        np.outer(design[clusters == g].T @ residuals[clusters == g], design[clusters == g].T @ residuals[clusters == g])
        for g in range(12)
    )
    variance = 12 / 11 * (bread @ meat @ bread)[0, 0]
    half = stats.t.ppf(0.95, 11) * np.sqrt(variance)
    assert result["n"] == x.size and result["clusters"] == 12
    assert result["se"] == pytest.approx(np.sqrt(variance))
    assert (result["low"], result["high"]) == pytest.approx((x.mean() - half, x.mean() + half))


def test_clustered_mean_interval_reduces_to_the_t_interval_and_ignores_copies():
    rng = np.random.default_rng(12)
    x = rng.random(25)
    single = clustered_mean_interval(x, range(25), confidence=0.95)
    plain = mean_interval(x, confidence=0.95)
    assert all(single[key] == pytest.approx(plain[key]) for key in ("mean", "low", "high", "se"))
    copies = clustered_mean_interval(np.concatenate([x, x, [np.nan]]), [*range(25), *range(25), 99], confidence=0.95)
    assert copies["n"] == 50 and copies["clusters"] == 25  # the NaN and its label are dropped
    assert all(copies[key] == pytest.approx(plain[key]) for key in ("mean", "low", "high", "se"))
    lone = clustered_mean_interval([1.0, 0.0], ["a", "a"])
    assert lone["mean"] == 0.5 and lone["low"] is None and lone["clusters"] == 1
    with pytest.raises(ValueError, match="2 cluster labels for 3 values"):
        clustered_mean_interval([1.0, 2.0, 3.0], ["a", "b"])


def test_clustered_wilson_counts_copies_once():
    from econalign.stats import clustered_wilson_interval

    # A rate of 0 has no binomial variance: the design effect is the mean cluster size (copies add nothing).
    zeros = clustered_wilson_interval(np.zeros(30), np.repeat(np.arange(10), 3), confidence=0.95)
    assert zeros["design_effect"] == pytest.approx(3.0) and zeros["effective_n"] == pytest.approx(10.0)
    assert zeros["high"] == pytest.approx(wilson_interval(0, 10)["high"])
    # Independent clusters of mixed outcomes never narrow the interval below the binomial one.
    rng = np.random.default_rng(0)
    values = (rng.random(60) < 0.3).astype(float)
    clustered = clustered_wilson_interval(values, rng.integers(0, 20, 60), confidence=0.95)
    plain = wilson_interval(values.sum(), 60)
    assert clustered["design_effect"] >= 1.0
    assert clustered["low"] <= plain["low"] + 1e-12 and clustered["high"] >= plain["high"] - 1e-12
    with pytest.raises(ValueError, match="0/1"):
        clustered_wilson_interval([0.5, 1.0], ["a", "a"])


def test_clustered_logit_slope_counts_copies_once():
    """Every observation posed twice (one cluster each): the clustered SE is the HC0 SE of the observations without
    copies times sqrt(G / (G - 1)), while the unclustered SE shrinks by sqrt(2) as if the copies were new data."""
    from scipy.special import expit

    rng = np.random.default_rng(4)
    x = rng.normal(size=40)
    y = np.clip(expit(0.3 + 0.8 * x) + rng.normal(scale=0.15, size=40), 0, 1)
    once = logit_slope(x, y)
    twice_x, twice_y, labels = np.repeat(x, 2), np.repeat(y, 2), np.repeat(np.arange(40), 2)
    clustered = logit_slope(twice_x, twice_y, clusters=labels)
    naive = logit_slope(twice_x, twice_y)
    assert clustered.slope == pytest.approx(once.slope, rel=1e-9)
    assert clustered.slope_se == pytest.approx(once.slope_se * np.sqrt(40 / 39), rel=1e-9)
    assert naive.slope_se == pytest.approx(once.slope_se / np.sqrt(2), rel=1e-9)
    with pytest.raises(ValueError, match="cluster labels"):
        logit_slope(x, y, clusters=labels)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_logit_slope_refuses_responses_outside_the_unit_interval(bad):
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        logit_slope([0.0, 1.0, 2.0], [0.2, bad, 0.7])
