import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import binomtest

from econalign.applications.stats import logit_slope, wilson_interval


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (3, 10), (10, 10), (76, 100), (1, 3)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_matches_scipy(successes, trials, confidence):
    expected = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(successes, trials, confidence=confidence) == pytest.approx((expected.low, expected.high))


def test_wilson_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def test_logit_slope_recovers_exact_probabilities():
    x = np.linspace(-1, 3, 25)
    fit = logit_slope(x, expit(-0.7 + 1.3 * x))
    assert fit.intercept == pytest.approx(-0.7, abs=1e-7)
    assert fit.slope == pytest.approx(1.3, abs=1e-7)
    assert fit.slope_se == pytest.approx(0.0, abs=1e-6)


def test_logit_slope_on_bernoulli_draws_covers_the_truth():
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    y = (rng.random(4000) < expit(0.2 + 0.8 * x)).astype(float)
    fit = logit_slope(x, y)
    assert abs(fit.slope - 0.8) < 4 * fit.slope_se
    assert 0 < fit.slope_se < 0.1


def test_logit_slope_without_variation_in_x_is_nan():
    assert np.isnan(logit_slope([1.0, 1.0, 1.0], [0.1, 0.5, 0.9]).slope)
