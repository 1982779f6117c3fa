import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econalign.theory.games import Game, PrisonersDilemma, PublicGoods, SymmetricGame2x2
from econalign.theory.preferences import HomoEconomicus, HomoMoralis, moralis_utility, preference_from_config

payoffs = st.integers(min_value=-6, max_value=6)
probabilities = st.floats(0, 1)
kappas = st.floats(0, 1)


@dataclasses.dataclass(frozen=True)
class VolunteersDilemma(Game):
    """Non-linear n-player test game: everyone gets b if at least one volunteers; volunteers pay c."""

    n: int
    b: float = 3.0
    c: float = 1.0

    family: ClassVar[str] = "volunteers_dilemma"
    actions: ClassVar[tuple[str, ...]] = ("volunteer", "wait")

    @property
    def n_players(self) -> int:
        return self.n

    def params(self) -> dict:
        return dataclasses.asdict(self)

    def pure_payoff(self, own: int, counts: Sequence[int]) -> float:
        someone = own == 0 or counts[0] > 0
        return self.b * someone - self.c * (own == 0)


def brute_force_moralis(game: Game, x: np.ndarray, y: np.ndarray, kappa: float) -> float:
    """Enumerate who is replaced by a copy and every action profile of the others (Alger & Weibull 2016)."""
    k, others = game.n_actions, game.n_players - 1
    total = 0.0
    for copies in itertools.product([True, False], repeat=others):
        weight = math.prod(kappa if c else 1 - kappa for c in copies)
        strategies = [x if c else y for c in copies]
        for profile in itertools.product(range(k), repeat=others):
            p_profile = math.prod(s[a] for s, a in zip(strategies, profile, strict=True))
            counts = [profile.count(a) for a in range(k)]
            total += weight * p_profile * sum(x[a] * game.pure_payoff(a, counts) for a in range(k))
    return total


def test_names_and_kappa() -> None:
    assert (HomoEconomicus().name, HomoEconomicus().kappa) == ("economicus", 0.0)
    assert (HomoMoralis(kappa=0.3).name, HomoMoralis(kappa=0.3).kappa) == ("moralis", 0.3)


@pytest.mark.parametrize("kappa", [-0.1, 1.5, float("nan"), "0.5", None])
def test_kappa_outside_unit_interval_is_rejected(kappa: object) -> None:
    with pytest.raises(ValueError, match="kappa"):
        HomoMoralis(kappa=kappa)


@given(payoffs, payoffs, payoffs, payoffs, probabilities, probabilities)
def test_economicus_utility_is_the_material_payoff(T: int, R: int, P: int, S: int, x: float, y: float) -> None:
    game = SymmetricGame2x2(T=T, R=R, P=P, S=S)
    # x, y: probabilities of C; the expected material payoff written out by hand.
    material = R * x * y + S * x * (1 - y) + T * (1 - x) * y + P * (1 - x) * (1 - y)
    assert HomoEconomicus().utility(game, x, y) == pytest.approx(material, abs=1e-10)


@given(payoffs, payoffs, payoffs, payoffs, probabilities, probabilities, kappas)
def test_two_player_moralis_is_the_alger_weibull_mixture(
    T: int, R: int, P: int, S: int, x: float, y: float, kappa: float
) -> None:
    game = SymmetricGame2x2(T=T, R=R, P=P, S=S)
    pi_xy = R * x * y + S * x * (1 - y) + T * (1 - x) * y + P * (1 - x) * (1 - y)
    pi_xx = R * x * x + S * x * (1 - x) + T * (1 - x) * x + P * (1 - x) * (1 - x)
    expected = (1 - kappa) * pi_xy + kappa * pi_xx
    assert HomoMoralis(kappa=kappa).utility(game, x, y) == pytest.approx(expected, abs=1e-10)


def test_moralis_pd_examples() -> None:
    game = PrisonersDilemma(T=5, R=3, P=1, S=0)
    assert HomoMoralis(kappa=1.0).utility(game, "C", "D") == 3.0  # homo kantiensis: as if the other mirrored me
    assert HomoMoralis(kappa=0.0).utility(game, "C", "D") == 0.0


@given(st.integers(2, 6), st.floats(0.05, 0.95), st.integers(2, 4), kappas, st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None)
def test_n_player_moralis_is_linear_for_linear_public_goods(
    n: int, share: float, n_levels: int, kappa: float, random
) -> None:
    mpcr = 1 / n + share * (1 - 1 / n)
    game = PublicGoods(n=n, endowment=10, mpcr=mpcr, n_levels=n_levels)
    rng = np.random.default_rng(random.getrandbits(32))
    x, y = rng.dirichlet(np.ones(n_levels), size=2)
    cx, cy = x @ np.array(game.contributions), y @ np.array(game.contributions)

    def earnings(own: float, others: float) -> float:
        return 10 - own + mpcr * (own + (n - 1) * others)

    linear = (1 - kappa) * earnings(cx, cy) + kappa * earnings(cx, cx)
    assert HomoMoralis(kappa=kappa).utility(game, x, y) == pytest.approx(linear, rel=1e-10, abs=1e-10)


@given(st.integers(2, 5), probabilities, probabilities, kappas)
@settings(max_examples=40, deadline=None)
def test_n_player_moralis_matches_brute_force_replacement(n: int, p: float, q: float, kappa: float) -> None:
    game = VolunteersDilemma(n=n)
    x, y = np.array([p, 1 - p]), np.array([q, 1 - q])
    assert moralis_utility(game, x, y, kappa=kappa) == pytest.approx(brute_force_moralis(game, x, y, kappa), abs=1e-10)


def test_n_player_moralis_is_not_the_two_player_formula_when_payoffs_are_non_linear() -> None:
    # Guards the Binomial replacement: (1 - k) pi(x, y) + k pi(x, x) differs once payoffs are not linear.
    game = VolunteersDilemma(n=3)
    x, y = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    naive = 0.5 * game.payoff(x, y) + 0.5 * game.payoff(x, x)
    exact = brute_force_moralis(game, x, y, 0.5)
    assert HomoMoralis(kappa=0.5).utility(game, x, y) == pytest.approx(exact, abs=1e-12)
    assert abs(naive - exact) > 0.01


def test_preference_from_config_round_trip() -> None:
    for preference in [HomoEconomicus(), HomoMoralis(kappa=0.5), HomoMoralis(kappa=1.0)]:
        assert preference_from_config(preference.config()) == preference
    assert preference_from_config({"preference": "economicus"}) == HomoEconomicus()


@pytest.mark.parametrize(
    "config",
    [{"preference": "moralis"}, {"preference": "altruist", "kappa": 0.5}, {"preference": "economicus", "kappa": 0.5}],
)
def test_preference_from_config_rejects_bad_configs(config: dict) -> None:
    with pytest.raises(ValueError):
        preference_from_config(config)
