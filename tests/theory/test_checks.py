import math
import warnings

import nashpy
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from econalign.theory.checks import is_best_response, is_equilibrium_price, is_symmetric_equilibrium, simplex_grid
from econalign.theory.games import Chicken, PrisonersDilemma, PublicGoods, StagHunt, SymmetricGame2x2
from econalign.theory.preferences import HomoEconomicus, HomoMoralis

PD = PrisonersDilemma(T=5, R=3, P=1, S=0)
payoffs = st.integers(min_value=-6, max_value=6)


@pytest.mark.parametrize(("k", "resolution"), [(2, 1), (2, 10), (3, 4), (5, 6)])
def test_simplex_grid_enumerates_the_lattice(k: int, resolution: int) -> None:
    grid = simplex_grid(k, resolution)
    assert grid.shape == (math.comb(resolution + k - 1, k - 1), k)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert np.all(grid >= 0)
    assert len({tuple(np.round(row * resolution).astype(int)) for row in grid}) == len(grid)


def test_best_response_checks_against_every_action() -> None:
    for belief in (0.0, 0.3, 1.0):
        assert is_best_response(PD, HomoEconomicus(), belief, "D")
        assert not is_best_response(PD, HomoEconomicus(), belief, "C")
        assert is_best_response(PD, HomoEconomicus(), belief, 1)
    # At kappa = 1/2 and belief 1 the two actions tie (SCIENCE.md threshold): both pass.
    assert is_best_response(PD, HomoMoralis(kappa=0.5), 1.0, "C")
    assert is_best_response(PD, HomoMoralis(kappa=0.5), 1.0, "D")
    game = PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=3)
    assert is_best_response(game, HomoEconomicus(), "contribute 5", "contribute 0")
    assert not is_best_response(game, HomoEconomicus(), "contribute 5", "contribute 10")


def test_mixed_deviations_are_caught_where_pure_ones_tie() -> None:
    # 5,3,1,0 at kappa 1/2 against full cooperation: u(x', 1) = 3 + x'/2 - x'^2/2 with x' = Pr(C), so C and D tie
    # at 3 but x' = 1/2 earns 3.125: full cooperation is not an equilibrium.
    moralis = HomoMoralis(kappa=0.5)
    assert is_best_response(PD, moralis, 1.0, "C")
    assert moralis.utility(PD, 0.5, 1.0) == pytest.approx(3.125)
    assert not is_symmetric_equilibrium(PD, moralis, 1.0)
    assert is_symmetric_equilibrium(PD, moralis, 2 / 3)


@given(payoffs, payoffs, payoffs, payoffs)
@settings(max_examples=40, deadline=None)
def test_nashpy_symmetric_equilibria_pass_the_checker(T: int, R: int, P: int, S: int) -> None:
    assume(R != T and S != P)
    matrix = SymmetricGame2x2(T=T, R=R, P=P, S=S).payoff_matrix()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        equilibria = list(nashpy.Game(matrix, matrix.T).support_enumeration())
    game = SymmetricGame2x2(T=T, R=R, P=P, S=S)
    for row, column in equilibria:
        if np.allclose(row, column):
            assert is_symmetric_equilibrium(game, HomoEconomicus(), row, resolution=200)


def test_known_equilibria_and_non_equilibria() -> None:
    stag, chicken = StagHunt(T=3, R=4, P=2, S=0), Chicken(T=4, R=3, P=0, S=1)
    for x in (1.0, 0.0, 2 / 3):
        assert is_symmetric_equilibrium(stag, HomoEconomicus(), x)
    assert not is_symmetric_equilibrium(stag, HomoEconomicus(), 0.5)
    assert is_symmetric_equilibrium(chicken, HomoEconomicus(), 0.5)
    assert not is_symmetric_equilibrium(chicken, HomoEconomicus(), "C")


def test_n_player_and_many_action_equilibria() -> None:
    game = PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=3)
    # Threshold (1/m - 1)/(n - 1) = 1/3.
    assert is_symmetric_equilibrium(game, HomoEconomicus(), "contribute 0", resolution=20)
    assert not is_symmetric_equilibrium(game, HomoEconomicus(), "contribute 10", resolution=20)
    assert is_symmetric_equilibrium(game, HomoMoralis(kappa=0.5), "contribute 10", resolution=20)
    assert not is_symmetric_equilibrium(game, HomoMoralis(kappa=0.5), [0.5, 0.0, 0.5], resolution=20)


def test_equilibrium_price_checker() -> None:
    def profit(p: float, q: float) -> float:
        return p * (10 - 2 * p + q)

    grid = np.linspace(0, 10, 2001)
    assert is_equilibrium_price(profit, 10 / 3, grid=grid)
    assert not is_equilibrium_price(profit, 3.0, grid=grid)
    assert is_equilibrium_price(profit, 5.0, kappa=1.0, grid=grid)
