import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econalign.theory.games import (
    GAMES,
    AVDilemma,
    Chicken,
    Coordination,
    Dictator,
    Game,
    Harmony,
    PrisonersDilemma,
    PublicGoods,
    StagHunt,
    SymmetricGame2x2,
    Trust,
    Ultimatum,
    family_of,
    game_from_params,
)

EXAMPLES = [
    PrisonersDilemma(T=5, R=3, P=1, S=0),
    StagHunt(T=3, R=4, P=2, S=0),
    StagHunt(T=2, R=4, P=2, S=0),
    Chicken(T=4, R=3, P=0, S=1),
    Harmony(T=2, R=3, P=0, S=1),
    Coordination(T=0, R=2, P=1, S=0),
    Coordination(T=0, R=2, P=3, S=1),
    SymmetricGame2x2(T=1, R=1, P=1, S=1),
    PublicGoods(n=4, endowment=10, mpcr=0.5),
    PublicGoods(n=3, endowment=20, mpcr=0.6, n_levels=2),
    Dictator(pie=10),
    Ultimatum(pie=10),
    Trust(endowment=10, multiplier=3),
    AVDilemma(n_pedestrians=10, n_passengers=1),
]
FAMILIES_2X2 = [PrisonersDilemma, StagHunt, Chicken, Harmony, Coordination]
payoffs = st.integers(min_value=-6, max_value=6)


@pytest.mark.parametrize("game", EXAMPLES, ids=lambda g: repr(g))
def test_params_rebuild_the_game_through_json(game: Game) -> None:
    params = json.loads(json.dumps(game.params()))
    assert game_from_params(game.family, params) == game
    assert game_from_params(game.family, json.dumps(params)) == game
    assert GAMES[game.family] is type(game)


def test_unknown_family_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown game family"):
        game_from_params("roulette", {})


@pytest.mark.parametrize("game", [g for g in EXAMPLES if isinstance(g, SymmetricGame2x2)], ids=repr)
def test_2x2_payoffs_follow_the_R_S_T_P_convention(game: SymmetricGame2x2) -> None:
    assert game.actions == ("C", "D")
    assert (game.payoff("C", "C"), game.payoff("C", "D")) == (game.R, game.S)
    assert (game.payoff("D", "C"), game.payoff("D", "D")) == (game.T, game.P)
    np.testing.assert_array_equal(game.payoff_matrix(), [[game.R, game.S], [game.T, game.P]])


@given(payoffs, payoffs, payoffs, payoffs, st.floats(0, 1), st.floats(0, 1))
def test_mixed_2x2_payoff_is_the_bilinear_expectation(T: int, R: int, P: int, S: int, x: float, y: float) -> None:
    game = SymmetricGame2x2(T=T, R=R, P=P, S=S)
    expected = R * x * y + S * x * (1 - y) + T * (1 - x) * y + P * (1 - x) * (1 - y)
    assert game.payoff(x, y) == pytest.approx(expected, abs=1e-12)
    assert game.payoff([x, 1 - x], np.array([y, 1 - y])) == pytest.approx(expected, abs=1e-12)
    # The generic anonymous-game expectation gives the same number as the matrix product.
    assert Game.payoff_profile(game, x, [y]) == pytest.approx(expected, abs=1e-12)


@given(payoffs, payoffs, payoffs, payoffs)
def test_family_orderings_are_exclusive_and_family_of_names_the_one_that_holds(T: int, R: int, P: int, S: int) -> None:
    accepted = []
    for cls in FAMILIES_2X2:
        try:
            cls(T=T, R=R, P=P, S=S)
            accepted.append(cls.family)
        except ValueError:
            pass
    assert len(accepted) <= 1
    assert family_of(T, R, P, S) == (accepted[0] if accepted else None)


@pytest.mark.parametrize(
    ("cls", "params", "violated"),
    [
        (PrisonersDilemma, (3, 3, 1, 0), "T > R"),
        (PrisonersDilemma, (5, 3, 4, 0), "R > P"),
        (PrisonersDilemma, (5, 3, 1, 2), "P > S"),
        (PrisonersDilemma, (9, 3, 1, 0), "2R > T + S"),
        (StagHunt, (5, 4, 2, 0), "R > T"),
        (StagHunt, (1, 4, 2, 0), "T >= P"),
        (Chicken, (4, 3, 1, 0), "S > P"),
        (Harmony, (2, 3, 1, 0), "S > P"),
        (Coordination, (1.5, 2, 1, 0), "P > T"),
        (Harmony, (1, 3, 4, 5), "R > P"),
        (Coordination, (0, 2, 4, 3), "R > S"),
    ],
)
def test_ordering_violation_names_the_inequality(cls: type, params: tuple, violated: str) -> None:
    with pytest.raises(ValueError, match=f"requires {violated.replace('+', '[+]')} "):
        cls(*params)


def test_renaming_the_actions_never_moves_a_game_into_another_family() -> None:
    """Swapping the names of C and D maps (T, R, P, S) to (S, P, R, T); prompts show neutral labels in either order,
    so a held-out family must not hold renamed games of another (a renamed prisoner's dilemma once was harmony)."""
    checked = 0
    for T, R, P, S in itertools.product(range(7), repeat=4):
        family, renamed = family_of(T, R, P, S), family_of(S, P, R, T)
        if family is not None and renamed is not None:
            assert family == renamed, (T, R, P, S)
            checked += 1
    assert checked > 0  # coordination games stay coordination games


def test_closed_form_examples_classify() -> None:
    assert family_of(5, 3, 1, 0) == "prisoners_dilemma"
    assert family_of(3, 4, 2, 0) == "stag_hunt"
    assert family_of(4, 3, 0, 1) == "chicken"
    assert family_of(2, 3, 0, 1) == "harmony"
    assert family_of(0, 2, 1, 0) == "coordination"
    assert family_of(9, 3, 1, 0) is None  # 2R <= T + S


@pytest.mark.parametrize(
    "bad", [1.5, -0.1, [0.5, 0.6], [1.0, 0.0, 0.0], "E", np.array([[0.5, 0.5]])], ids=lambda b: repr(b)
)
def test_invalid_strategies_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        PrisonersDilemma(T=5, R=3, P=1, S=0).payoff(bad, 0.5)


def test_scalar_strategy_needs_two_actions() -> None:
    with pytest.raises(ValueError, match="two actions"):
        PublicGoods(n=3, endowment=10, mpcr=0.5).payoff(0.5, 0.5)


@given(
    st.integers(2, 5),
    st.floats(1, 20),
    st.floats(0.0, 1.0),
    st.integers(2, 4),
    st.randoms(use_true_random=False),
)
@settings(max_examples=40, deadline=None)
def test_public_goods_linear_shortcut_matches_the_generic_expectation(
    n: int, endowment: float, share: float, n_levels: int, random
) -> None:
    mpcr = 1 / n + share * (1 - 1 / n) * 0.98 + 0.01 * (1 - 1 / n)
    game = PublicGoods(n=n, endowment=endowment, mpcr=mpcr, n_levels=n_levels)
    rng = np.random.default_rng(random.getrandbits(32))
    own, *others = rng.dirichlet(np.ones(n_levels), size=n)
    assert game.payoff_profile(own, others) == pytest.approx(Game.payoff_profile(game, own, others), rel=1e-10)


def test_public_goods_earnings_and_grid() -> None:
    game = PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=5)
    assert game.contributions == (0.0, 2.5, 5.0, 7.5, 10.0)
    # e - c_i + m * sum_j c_j, with contributions 10, 0, 5, 5.
    assert game.earnings(10, [0, 5, 5]) == pytest.approx(10 - 10 + 0.5 * 20)
    for own, counts in [(0, (3, 0, 0, 0, 0)), (4, (0, 1, 0, 2, 0)), (2, (1, 1, 1, 0, 0))]:
        others = [game.contributions[k] for k, m in enumerate(counts) for _ in range(m)]
        c = game.contributions[own]
        assert game.pure_payoff(own, counts) == pytest.approx(10 - c + 0.5 * (c + sum(others)))


@pytest.mark.parametrize(("n", "mpcr"), [(4, 0.25), (4, 1.0), (1, 0.5), (2.5, 0.7)])
def test_public_goods_rejects_non_dilemmas(n: float, mpcr: float) -> None:
    with pytest.raises(ValueError):
        PublicGoods(n=n, endowment=10, mpcr=mpcr)


@pytest.mark.parametrize(("n", "k"), list(itertools.product([1, 2, 3, 5, 10], [1, 2, 3])))
def test_av_payoff_is_minus_own_deaths(n: int, k: int) -> None:
    game = AVDilemma(n_pedestrians=n, n_passengers=k)
    for own, other in itertools.product(game.actions, repeat=2):
        assert game.payoff(own, other) == -k * (own == "swerve") - n * (other == "stay")


def test_dictator_payoff_under_the_role_convention() -> None:
    game = Dictator(pie=10, n_levels=5)
    gifts = [g for (g,) in game.plans]
    for i, j in itertools.product(range(5), repeat=2):
        assert game.payoff_matrix()[i, j] == pytest.approx(0.5 * (10 - gifts[i]) + 0.5 * gifts[j])


@given(st.lists(st.floats(0, 1), min_size=5, max_size=5).filter(lambda v: sum(v) > 0.1))
def test_dictator_same_plan_payoff_is_half_the_pie(weights: list[float]) -> None:
    game = Dictator(pie=12, n_levels=5)
    x = np.array(weights) / sum(weights)
    assert game.payoff(x, x) == pytest.approx(6.0)


def test_trust_same_plan_payoff_rises_with_sent_and_ignores_returned() -> None:
    game = Trust(endowment=10, multiplier=3, n_levels=5)
    for action, (sent, _returned) in zip(game.actions, game.plans, strict=True):
        assert game.payoff(action, action) == pytest.approx(0.5 * (10 + (3 - 1) * sent))
    by_plan = {plan: game.payoff(a, a) for a, plan in zip(game.actions, game.plans, strict=True)}
    sends = sorted({s for s, _ in game.plans})
    returns = sorted({r for _, r in game.plans})
    for r in returns:
        assert all(by_plan[(s1, r)] < by_plan[(s2, r)] for s1, s2 in itertools.pairwise(sends))
    for s in sends:
        assert len({round(by_plan[(s, r)], 12) for r in returns}) == 1


def test_trust_payoff_under_the_role_convention() -> None:
    game = Trust(endowment=10, multiplier=3, n_levels=3)
    mine, theirs = game.actions.index("send 10, return 50%"), game.actions.index("send 5, return 100%")
    # Investor: 10 - 10 + 1.0 * 3 * 10 = 30; trustee: (1 - 0.5) * 3 * 5 = 7.5.
    assert game.payoff_matrix()[mine, theirs] == pytest.approx(0.5 * 30 + 0.5 * 7.5)


def test_ultimatum_payoff_under_the_role_convention() -> None:
    game = Ultimatum(pie=10, n_levels=3)
    for action, (offer, threshold) in zip(game.actions, game.plans, strict=True):
        assert game.payoff(action, action) == pytest.approx(5.0 * (offer >= threshold))
    # Offer 5 against a threshold 10 is rejected; their offer 10 meets my threshold 0.
    assert game.payoff("offer 5, accept >= 0", "offer 10, accept >= 10") == pytest.approx(0.5 * 0 + 0.5 * 10)


@pytest.mark.parametrize("game", EXAMPLES, ids=repr)
def test_payoff_range_spans_the_pure_payoffs(game: Game) -> None:
    k = game.n_actions
    values = [
        game.payoff_profile(a, list(others))
        for a in game.actions
        for others in itertools.combinations_with_replacement(game.actions, game.n_players - 1)
    ]
    assert game.payoff_range == pytest.approx(max(values) - min(values))
    assert k == len(set(game.actions))
