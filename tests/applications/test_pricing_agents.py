import numpy as np
import pytest

from econalign.applications.pricing_agents import (
    FirmView,
    grid_best_response,
    market_grid,
    nearest_index,
    reference_pricer,
)
from econalign.theory.market import LogitDuopoly


@pytest.mark.parametrize("alpha", [1.0, 3.2, 10.0])
def test_grid_is_calvanos_rounded_to_the_cent(alpha):
    market = LogitDuopoly(alpha=alpha)
    grid = market_grid(market, 15)
    nash, monopoly = market.nash_price(), market.monopoly_price()
    expected = np.linspace(nash - 0.1 * (monopoly - nash), monopoly + 0.1 * (monopoly - nash), 15)
    np.testing.assert_allclose(grid, expected, atol=0.005 + 1e-12)
    assert np.all(np.diff(grid) > 0)


@pytest.mark.parametrize("alpha", [1.0, 10.0])
@pytest.mark.parametrize("kappa", [0.0, 0.3, 0.5, 1.0])
def test_grid_best_response_is_the_brute_force_argmax(alpha, kappa):
    market = LogitDuopoly(alpha=alpha)
    grid = market_grid(market, 15)
    for rival in range(15):
        # Independent reference: u = (1 - kappa) pi(p, q) + kappa pi(p, p) (Alger & Weibull 2013), by enumeration.
        utilities = [(1 - kappa) * market.profit(p, grid[rival]) + kappa * market.profit(p, p) for p in grid]
        assert grid_best_response(market, 15, rival, kappa) == int(np.argmax(utilities))


def _view(market, rival_history):
    grid = market_grid(market, 15)
    n = len(rival_history)
    return FirmView(market, grid, n + 1, (0,) * n, tuple(rival_history), (0.0,) * n, (0.0,) * n, tuple(range(1, n + 1)))


def test_reference_rules():
    market = LogitDuopoly()
    grid = market_grid(market, 15)
    assert reference_pricer("nash", kappa=0.5).choose(_view(market, [3])) == nearest_index(grid, market.nash_price())
    assert reference_pricer("monopoly", kappa=0.5).choose(_view(market, [])) == nearest_index(
        grid, market.monopoly_price()
    )
    tit_for_tat = reference_pricer("tit_for_tat", kappa=0.5)
    assert tit_for_tat.choose(_view(market, [])) == nearest_index(grid, market.monopoly_price())
    assert tit_for_tat.choose(_view(market, [4, 9])) == 9
    moralis = reference_pricer("exact_moralis", kappa=0.5)
    assert moralis.choose(_view(market, [])) == nearest_index(grid, market.moralis_price(0.5))
    assert moralis.choose(_view(market, [2])) == grid_best_response(market, 15, 2, 0.5)
    with pytest.raises(ValueError, match="unknown reference pricer"):
        reference_pricer("grim_trigger", kappa=0.5)
