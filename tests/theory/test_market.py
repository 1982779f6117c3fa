import numpy as np
import pytest

from econalign.theory.checks import is_equilibrium_price
from econalign.theory.market import LogitDuopoly
from econalign.theory.solvers import best_response_price, symmetric_equilibrium_price

# SCIENCE.md benchmark table (Calvano et al. 2020 parameters, alpha = 1, profit per firm at beta = 1).
BENCHMARKS = [
    (0.0, 1.4729, 0.2229, 0.0),
    (0.25, 1.5829, 0.2664, 0.379),
    (0.5, 1.7106, 0.3070, 0.734),
    (0.75, 1.8293, 0.3310, 0.944),
]


@pytest.fixture(scope="module")
def market() -> LogitDuopoly:
    return LogitDuopoly(beta=1.0)


def closed_form_markup(market: LogitDuopoly, price: float, kappa: float) -> float:
    """Logit first-order condition: p - alpha c = alpha mu / (1 - (1 + kappa) s), s the firm's share.

    d/dp [(1 - k) pi(p, q) + k pi(p, p)] at p = q, using dq_i/dp_i = -q_i (1 - s) / (alpha mu) and
    dq_i/dp_j = q_i s / (alpha mu).
    """
    share = market.demand(price, price) / market.beta
    return market.alpha * market.mu / (1 - (1 + kappa) * share)


@pytest.mark.parametrize(("kappa", "price", "profit", "gain"), BENCHMARKS)
def test_benchmark_table(market: LogitDuopoly, kappa: float, price: float, profit: float, gain: float) -> None:
    p = market.moralis_price(kappa)
    assert p == pytest.approx(price, abs=5e-5)
    assert market.profit(p, p) == pytest.approx(profit, abs=5e-5)
    assert market.profit_gain(market.profit(p, p)) == pytest.approx(gain, abs=5e-4)


def test_monopoly_row(market: LogitDuopoly) -> None:
    p = market.monopoly_price()
    assert p == pytest.approx(1.9250, abs=5e-5)
    assert market.profit(p, p) == pytest.approx(0.3375, abs=5e-5)
    assert market.profit_gain(market.profit(p, p)) == pytest.approx(1.0)
    # A homo kantiensis firm maximises pi(p, p): the joint-profit price.
    assert market.moralis_price(1.0) == pytest.approx(p, abs=1e-8)


@pytest.mark.parametrize("kappa", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
@pytest.mark.parametrize("alpha", [1.0, 3.2, 10.0])
def test_equilibrium_satisfies_the_logit_first_order_condition(alpha: float, kappa: float) -> None:
    market = LogitDuopoly(alpha=alpha)
    p = market.moralis_price(kappa)
    assert p - market.cost == pytest.approx(closed_form_markup(market, p, kappa), rel=1e-8)


@pytest.mark.parametrize("alpha", [3.2, 10.0])
def test_prices_and_profits_scale_with_alpha(market: LogitDuopoly, alpha: float) -> None:
    scaled = LogitDuopoly(alpha=alpha, beta=1.0)
    for kappa, *_ in BENCHMARKS:
        p = scaled.moralis_price(kappa)
        assert p == pytest.approx(alpha * market.moralis_price(kappa), rel=1e-8)
        assert scaled.profit(p, p) == pytest.approx(alpha * market.profit(p / alpha, p / alpha), rel=1e-10)
    assert scaled.monopoly_price() == pytest.approx(alpha * market.monopoly_price(), rel=1e-8)
    np.testing.assert_allclose(scaled.price_grid(), alpha * market.price_grid(), rtol=1e-8)


def test_beta_scales_quantities_only() -> None:
    small, large = LogitDuopoly(beta=1.0), LogitDuopoly(beta=100.0)
    assert large.demand(1.6, 1.8) == pytest.approx(100 * small.demand(1.6, 1.8))
    assert large.nash_price() == pytest.approx(small.nash_price(), abs=1e-9)


def test_demand_is_logit(market: LogitDuopoly) -> None:
    e1, e2, e0 = np.exp((2 - 1.5) / 0.25), np.exp((2 - 1.7) / 0.25), np.exp(0.0)
    assert market.demand(1.5, 1.7) == pytest.approx(e1 / (e1 + e2 + e0))
    assert market.demand(1.5, 1.7) + market.demand(1.7, 1.5) < 1.0
    assert market.demand(1.5, 1.7) > market.demand(1.6, 1.7)
    assert np.isfinite(market.demand(1e4, -1e4)) and np.isfinite(market.demand(-1e4, 1e4))


def test_price_grid(market: LogitDuopoly) -> None:
    grid = market.price_grid(15)
    nash, monopoly = market.nash_price(), market.monopoly_price()
    assert len(grid) == 15
    assert grid[0] == pytest.approx(nash - 0.1 * (monopoly - nash))
    assert grid[-1] == pytest.approx(monopoly + 0.1 * (monopoly - nash))
    np.testing.assert_allclose(np.diff(grid), (grid[-1] - grid[0]) / 14)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 0.9])
def test_equilibrium_prices_pass_the_grid_checker(market: LogitDuopoly, kappa: float) -> None:
    p = market.moralis_price(kappa)
    grid = np.linspace(*market.bounds, 4001)
    assert is_equilibrium_price(market.profit, p, kappa=kappa, grid=grid)
    assert not is_equilibrium_price(market.profit, p + 0.02, kappa=kappa, grid=grid)
    assert market.best_response(p, kappa=kappa) == pytest.approx(p, abs=1e-9)


def test_best_response_to_a_high_price_undercuts_it(market: LogitDuopoly) -> None:
    monopoly = market.monopoly_price()
    assert market.nash_price() < market.best_response(monopoly) < monopoly


def test_continuous_solvers_on_a_linear_demand_duopoly() -> None:
    # pi(p, q) = p (a - b p + d q): best response (a + d q) / (2b); symmetric Nash a / (2b - d);
    # with kappa, FOC (a - 2bp + dq) + kappa d p = 0 at q = p gives p = a / (2b - d - kappa d).
    a, b, d = 10.0, 2.0, 1.0

    def profit(p: float, q: float) -> float:
        return p * (a - b * p + d * q)

    assert best_response_price(profit, 3.0, bounds=(0, 10)) == pytest.approx((a + d * 3.0) / (2 * b), abs=1e-9)
    for kappa in (0.0, 0.4, 1.0):
        expected = a / (2 * b - d - kappa * d)
        assert symmetric_equilibrium_price(profit, kappa=kappa, bounds=(0, 10)) == pytest.approx(expected, abs=1e-8)


def test_invalid_markets_and_kappa_are_rejected(market: LogitDuopoly) -> None:
    with pytest.raises(ValueError, match="mu"):
        LogitDuopoly(mu=0.0)
    with pytest.raises(ValueError, match="kappa"):
        market.moralis_price(1.5)
