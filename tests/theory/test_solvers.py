import dataclasses
import itertools
import warnings
from typing import ClassVar

import nashpy
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from econalign.theory.checks import is_best_response, is_symmetric_equilibrium
from econalign.theory.games import (
    AVDilemma,
    Chicken,
    Dictator,
    MatrixGame,
    PrisonersDilemma,
    PublicGoods,
    StagHunt,
    SymmetricGame2x2,
    Trust,
    Ultimatum,
)
from econalign.theory.preferences import HomoEconomicus, HomoMoralis
from econalign.theory.solvers import (
    MIN_MARGIN,
    best_response,
    optimal_mixed,
    predicted_action,
    symmetric_equilibria,
)

PD = PrisonersDilemma(T=5, R=3, P=1, S=0)


@dataclasses.dataclass(frozen=True)
class ThreeActionGame(MatrixGame):
    entries: tuple[int, ...]

    family: ClassVar[str] = "three_action"
    actions: ClassVar[tuple[str, ...]] = ("a", "b", "c")

    def payoff_matrix(self) -> np.ndarray:
        return np.array(self.entries, dtype=np.float64).reshape(3, 3)

    def params(self) -> dict:
        return {"entries": list(self.entries)}


payoffs = st.integers(min_value=-6, max_value=6)


@st.composite
def prisoners_dilemmas(draw: st.DrawFn) -> PrisonersDilemma:
    S = draw(st.integers(0, 4))
    P = S + draw(st.integers(1, 4))
    R = P + draw(st.integers(1, 4))
    T = R + draw(st.integers(1, R - S - 1))  # 2R > T + S
    return PrisonersDilemma(T=T, R=R, P=P, S=S)


def pd_cooperates(game: PrisonersDilemma, kappa: float, q: float) -> bool:
    """SCIENCE.md: cooperate iff kappa (R - P) > (1 - kappa) [q (T - R) + (1 - q) (P - S)]."""
    T, R, P, S = game.T, game.R, game.P, game.S
    return kappa * (R - P) > (1 - kappa) * (q * (T - R) + (1 - q) * (P - S))


# ----------------------------------------------------------------------------------------------------------------
# Best responses to a stated belief


@pytest.mark.parametrize(("q", "threshold"), [(0.0, 1 / 3), (0.5, 3 / 7), (1.0, 1 / 2)])
def test_pd_belief_thresholds_for_5_3_1_0(q: float, threshold: float) -> None:
    assert best_response(PD, HomoMoralis(kappa=threshold - 0.01), q).action == "D"
    assert best_response(PD, HomoMoralis(kappa=threshold + 0.01), q).action == "C"
    at_threshold = best_response(PD, HomoMoralis(kappa=threshold), q)
    assert at_threshold.margin == pytest.approx(0.0, abs=1e-12)
    assert not at_threshold.is_decisive()
    assert predicted_action(PD, HomoMoralis(kappa=threshold), q) is None


@given(prisoners_dilemmas(), st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=80, deadline=None)
def test_pd_moralis_best_response_matches_the_closed_form(game: PrisonersDilemma, kappa: float, q: float) -> None:
    T, R, P, S = game.T, game.R, game.P, game.S
    gap = kappa * (R - P) - (1 - kappa) * (q * (T - R) + (1 - q) * (P - S))
    response = best_response(game, HomoMoralis(kappa=kappa), q)
    assert response.margin == pytest.approx(abs(gap) / (T - S), abs=1e-9)
    if abs(gap) > 1e-9:
        assert response.action == ("C" if pd_cooperates(game, kappa, q) else "D")


@given(prisoners_dilemmas(), st.floats(0, 1))
@settings(max_examples=40, deadline=None)
def test_pd_economicus_always_defects(game: PrisonersDilemma, q: float) -> None:
    response = best_response(game, HomoEconomicus(), q)
    assert response.action == "D"
    assert response.margin == pytest.approx((q * (game.T - game.R) + (1 - q) * (game.P - game.S)) / (game.T - game.S))


@given(payoffs, payoffs, payoffs, payoffs, st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=120, deadline=None)
def test_best_response_of_any_2x2_game_matches_the_closed_form(
    T: int, R: int, P: int, S: int, kappa: float, q: float
) -> None:
    # u(C) - u(D) for homo moralis against a partner who plays C with probability q (SCIENCE.md), written out by hand;
    # this covers stag hunt, chicken, harmony and coordination as well as the prisoner's dilemma.
    gap = (1 - kappa) * (q * (R - T) + (1 - q) * (S - P)) + kappa * (R - P)
    spread = max(T, R, P, S) - min(T, R, P, S)
    assume(spread > 0)
    response = best_response(SymmetricGame2x2(T=T, R=R, P=P, S=S), HomoMoralis(kappa=kappa), q)
    assert response.margin == pytest.approx(abs(gap) / spread, abs=1e-9)
    if abs(gap) > 1e-9:
        assert response.action == ("C" if gap > 0 else "D")


@given(payoffs, payoffs, payoffs, payoffs, st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=80, deadline=None)
def test_best_response_is_verified_by_the_brute_force_checker(
    T: int, R: int, P: int, S: int, kappa: float, q: float
) -> None:
    game, preference = SymmetricGame2x2(T=T, R=R, P=P, S=S), HomoMoralis(kappa=kappa)
    response = best_response(game, preference, q)
    assert is_best_response(game, preference, q, response.action)
    assert response.index in response.near_best()
    if response.is_decisive():
        assert response.near_best() == (response.index,)
        assert not is_best_response(game, preference, q, 1 - response.index)


@pytest.mark.parametrize(("n", "k"), list(itertools.product([1, 2, 3, 5, 10], [1, 2, 3])))
@pytest.mark.parametrize("kappa", [0.0, 0.1, 0.25, 0.4, 0.5, 0.75, 1.0])
def test_av_moralis_swerves_iff_kappa_n_exceeds_k(n: int, k: int, kappa: float) -> None:
    game, preference = AVDilemma(n_pedestrians=n, n_passengers=k), HomoMoralis(kappa=kappa)
    expected = None if kappa * n == k else ("swerve" if kappa * n > k else "stay")
    for belief in (0.0, 0.5, 1.0):
        assert best_response(game, preference, belief).action == (expected or "stay")
    equilibria = symmetric_equilibria(game, preference)
    if expected is None:
        assert not equilibria.is_unique
    else:
        assert equilibria.is_pure and equilibria[0].action == expected
    assert predicted_action(game, HomoEconomicus()) == "stay"


@given(st.integers(2, 8), st.floats(0.02, 0.98), st.floats(0, 1), st.integers(2, 4))
@settings(max_examples=30, deadline=None)
def test_public_goods_moralis_contributes_everything_iff_kappa_above_threshold(
    n: int, share: float, kappa: float, n_levels: int
) -> None:
    mpcr = 1 / n + share * (1 - 1 / n)
    threshold = (1 / mpcr - 1) / (n - 1)
    assume(abs(kappa - threshold) > 1e-3)
    game, preference = PublicGoods(n=n, endowment=10, mpcr=mpcr, n_levels=n_levels), HomoMoralis(kappa=kappa)
    expected = game.actions[-1] if kappa > threshold else game.actions[0]
    for belief in (game.actions[0], game.actions[-1], np.full(n_levels, 1 / n_levels)):
        assert best_response(game, preference, belief).action == expected
        assert best_response(game, HomoEconomicus(), belief).action == game.actions[0]
    if n <= 4:
        equilibria = symmetric_equilibria(game, preference)
        assert equilibria.is_pure and equilibria[0].action == expected


@pytest.mark.parametrize("kappa", [0.0, 0.3, 0.9])
def test_dictator_kappa_has_no_bite(kappa: float) -> None:
    game = Dictator(pie=10, n_levels=5)
    rng = np.random.default_rng(0)
    for belief in [*game.actions, *rng.dirichlet(np.ones(5), size=3)]:
        economicus = np.array(best_response(game, HomoEconomicus(), belief).utilities)
        moralis = np.array(best_response(game, HomoMoralis(kappa=kappa), belief).utilities)
        # u_kappa = (1 - kappa) pi + kappa pie/2: the same ranking of gifts.
        np.testing.assert_allclose(moralis, (1 - kappa) * economicus + kappa * 5.0, atol=1e-12)
        # Giving one step (pie/4) less gains (1 - kappa) pie/8, a (1 - kappa)/8 share of the payoff range.
        decisive = (1 - kappa) / 8 >= MIN_MARGIN
        assert predicted_action(game, HomoMoralis(kappa=kappa), belief) == ("give 0" if decisive else None)
    assert symmetric_equilibria(game, HomoMoralis(kappa=kappa)).unique.action == "give 0"


def test_dictator_kantian_is_indifferent() -> None:
    game = Dictator(pie=10)
    assert predicted_action(game, HomoMoralis(kappa=1.0), "give 5") is None
    assert not symmetric_equilibria(game, HomoMoralis(kappa=1.0)).is_unique


@pytest.mark.parametrize(("multiplier", "kappa"), [(3, 0.2), (3, 0.5), (2, 0.6), (4, 0.5)])
def test_trust_same_type_moralis_sends_all_iff_kappa_times_multiplier_exceeds_one(
    multiplier: int, kappa: float
) -> None:
    game = Trust(endowment=10, multiplier=multiplier, n_levels=3)
    predicted = predicted_action(game, HomoMoralis(kappa=kappa))
    if kappa * multiplier > 1:
        assert predicted == "send 10, return 0%"
    else:
        # Nobody sends, so the amount returned is never tested: the theory makes no prediction.
        assert predicted is None


def test_role_games_without_a_prediction() -> None:
    assert predicted_action(Trust(endowment=10), HomoEconomicus()) is None
    assert predicted_action(Ultimatum(pie=10), HomoEconomicus()) is None
    assert predicted_action(Ultimatum(pie=10), HomoMoralis(kappa=0.5)) is None
    # Any threshold at or below the offer is accepted alike: a tie among plans.
    assert predicted_action(Ultimatum(pie=10), HomoEconomicus(), "offer 5, accept >= 5") is None


# ----------------------------------------------------------------------------------------------------------------
# Same-type opponents: symmetric equilibria


def interior_pd_equilibrium(game: PrisonersDilemma, kappa: float) -> float:
    """Root of the first-order condition (1-k)[x(R-T) + (1-x)(S-P)] + k[2Rx + (S+T)(1-2x) - 2P(1-x)] = 0."""
    T, R, P, S = game.T, game.R, game.P, game.S
    constant = (1 - kappa) * (S - P) + kappa * (S + T - 2 * P)
    slope = (1 - kappa) * (R - T - S + P) + kappa * (2 * R - 2 * (S + T) + 2 * P)
    return -constant / slope


def test_pd_same_type_closed_forms_for_5_3_1_0() -> None:
    moralis = HomoMoralis(kappa=0.5)
    equilibria = symmetric_equilibria(PD, moralis)
    assert equilibria.is_unique and not equilibria.is_pure
    assert equilibria[0].strategy == pytest.approx(2 / 3, abs=1e-9)
    assert predicted_action(PD, moralis) is None
    assert symmetric_equilibria(PD, HomoMoralis(kappa=2 / 3)).unique.action == "C"
    assert symmetric_equilibria(PD, HomoMoralis(kappa=1 / 4)).unique.action == "D"
    assert symmetric_equilibria(PD, HomoEconomicus()).unique.action == "D"


@given(prisoners_dilemmas(), st.floats(0, 1))
@settings(max_examples=60, deadline=None)
def test_pd_same_type_thresholds(game: PrisonersDilemma, kappa: float) -> None:
    T, R, P, S = game.T, game.R, game.P, game.S
    if R + P <= S + T:
        # pi(x, x) concave: SCIENCE.md's local thresholds are global.
        cooperate, defect = (T - R) / (R - S), (P - S) / (T - P)
    else:
        # pi(x, x) convex: the best deviation is the opposite pure action, so compare end points.
        cooperate, defect = (T - R) / (T - P), (P - S) / (R - S)
    assume(min(abs(kappa - cooperate), abs(kappa - defect)) > 1e-6)
    equilibria = symmetric_equilibria(game, HomoMoralis(kappa=kappa))
    pure = {e.action for e in equilibria if e.is_pure}
    assert ("C" in pure) == (kappa >= cooperate)
    assert ("D" in pure) == (kappa <= defect)
    if R + P < S + T and defect < kappa < cooperate:
        assert equilibria.is_unique
        assert equilibria[0].strategy == pytest.approx(interior_pd_equilibrium(game, kappa), abs=1e-7)


def symmetric_nash_with_nashpy(matrix: np.ndarray) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        equilibria = nashpy.Game(matrix, matrix.T).support_enumeration()
        return [row for row, column in equilibria if np.allclose(row, column, atol=1e-9)]


def same_strategies(ours: list[np.ndarray], theirs: list[np.ndarray]) -> bool:
    matched = [any(np.allclose(a, b, atol=1e-7) for b in theirs) for a in ours]
    return len(ours) == len(theirs) and all(matched)


@given(payoffs, payoffs, payoffs, payoffs)
@settings(max_examples=100, deadline=None)
def test_economicus_2x2_equilibria_match_nashpy(T: int, R: int, P: int, S: int) -> None:
    assume(R != T and S != P)  # non-degenerate: nashpy's support enumeration is then complete
    game = SymmetricGame2x2(T=T, R=R, P=P, S=S)
    equilibria = symmetric_equilibria(game, HomoEconomicus())
    ours = [np.array(e.probabilities) for e in equilibria]
    assert not equilibria.continuum
    assert same_strategies(ours, symmetric_nash_with_nashpy(game.payoff_matrix()))


@given(st.lists(st.integers(-5, 5), min_size=9, max_size=9, unique=True))
@example(entries=[-3, 2, 0, -5, 3, -1, 5, -2, 1])  # (1/3, 2/3, 0): every action earns exactly 1/3 against it
@settings(max_examples=30, deadline=None)
def test_economicus_3x3_equilibria_match_nashpy(entries: list[int]) -> None:
    matrix = np.array(entries, dtype=np.float64).reshape(3, 3)
    game = ThreeActionGame(tuple(entries))
    equilibria = symmetric_equilibria(game, HomoEconomicus())
    ours = [np.array(e.probabilities) for e in equilibria]
    assert equilibria.exhaustive and not equilibria.continuum
    # nashpy's support enumeration drops solutions with a -1e-17 "probability" (e.g. entries 0, 1, 2, -2, 4, 3,
    # -1, -3, 5 lose (0, 2/9, 7/9)), so it is a lower bound; extras must be equilibria: no pure action earns more
    # against x than x itself. (nashpy's is_ne compares floats without a tolerance and rejects the @example's
    # (1/3, 2/3, 0), where the unused action earns 1/3 too, by one rounding error.)
    for theirs in symmetric_nash_with_nashpy(matrix):
        assert any(np.allclose(theirs, x, atol=1e-7) for x in ours)
    for x in ours:
        earnings = matrix @ x
        assert earnings.max() <= x @ earnings + 1e-9


@given(payoffs, payoffs, payoffs, payoffs, st.sampled_from([i / 20 for i in range(21)]))
@settings(max_examples=30, deadline=None)
def test_equilibria_pass_the_checker_and_nothing_else_does(T: int, R: int, P: int, S: int, kappa: float) -> None:
    # kappa on a coarse grid keeps first-order gains of non-equilibria away from rounding noise.
    game, preference = SymmetricGame2x2(T=T, R=R, P=P, S=S), HomoMoralis(kappa=kappa)
    equilibria = symmetric_equilibria(game, preference)
    for equilibrium in equilibria:
        assert is_symmetric_equilibrium(game, preference, equilibrium.strategy, resolution=400)
    if not equilibria.continuum:
        found = [e.strategy for e in equilibria]
        for x in np.linspace(0, 1, 11):
            if min(abs(x - f) for f in found) > 0.02:
                assert not is_symmetric_equilibrium(game, preference, float(x), resolution=100), x


def test_multiplicity_is_reported() -> None:
    stag = symmetric_equilibria(StagHunt(T=3, R=4, P=2, S=0), HomoEconomicus())
    assert [e.strategy for e in stag] == pytest.approx([1.0, 0.0, 2 / 3])
    assert not stag.is_unique and stag.unique is None and not stag.is_pure
    chicken = symmetric_equilibria(Chicken(T=4, R=3, P=0, S=1), HomoEconomicus())
    assert chicken.is_unique and not chicken.is_pure
    constant = symmetric_equilibria(SymmetricGame2x2(T=1, R=1, P=1, S=1), HomoMoralis(kappa=0.3))
    assert constant.continuum and not constant.is_unique
    trust = symmetric_equilibria(Trust(endowment=10), HomoEconomicus())
    assert trust.continuum and [e.action for e in trust] == ["send 0, return 0%"]


def test_pure_equilibrium_margin() -> None:
    (equilibrium,) = symmetric_equilibria(PD, HomoEconomicus())
    assert equilibrium.margin == pytest.approx((PD.P - PD.S) / (PD.T - PD.S))
    assert MIN_MARGIN == 0.02


@given(prisoners_dilemmas(), st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=25, deadline=None)
def test_optimal_mixed_beats_every_grid_strategy(game: PrisonersDilemma, kappa: float, q: float) -> None:
    preference = HomoMoralis(kappa=kappa)
    optimum = optimal_mixed(game, preference, q)
    grid_best = max(preference.utility(game, float(x), q) for x in np.linspace(0, 1, 201))
    assert optimum.utility >= grid_best - 1e-9
    assert optimum.utility == pytest.approx(preference.utility(game, optimum.strategy, q), abs=1e-12)


def test_optimal_mixed_interior_for_5_3_1_0() -> None:
    # u(x) = 0.6 (1 - x) + 0.4 (-x^2 + 3x + 1) at q = 0 peaks where 0.6 - 0.8 x = 0.
    assert optimal_mixed(PD, HomoMoralis(kappa=0.4), 0.0).strategy == pytest.approx(0.75, abs=1e-9)
    assert best_response(PD, HomoMoralis(kappa=0.4), 0.0).action == "C"


def test_same_type_prediction_refuses_a_nearly_tied_second_equilibrium():
    """Against C, defecting gains 0.04 of a payoff range of 5 (0.8%, under the 2% tie margin): C is nearly an
    equilibrium too, so the same-type item has no discrete answer although the unique equilibrium D is decisive."""
    from econalign.theory.preferences import HomoMoralis
    from econalign.theory.solvers import predicted_action, same_type_answer, symmetric_equilibria

    game, preference = PrisonersDilemma(T=5, R=4, P=2, S=0), HomoMoralis(kappa=0.32)
    assert symmetric_equilibria(game, preference).unique.action == "D"
    answer = same_type_answer(game, preference)
    assert answer.candidate is None and answer.equilibrium is None
    assert predicted_action(game, preference) is None
    assert predicted_action(game, preference, min_margin=0.005) == "D"  # a looser tie rule poses it
