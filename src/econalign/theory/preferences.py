"""Preferences over strategies: homo economicus and homo moralis (Alger & Weibull 2013, 2016).

A preference turns a game's material payoff into a utility ``u(game, x, y)`` of own strategy x when every other
player uses y. Both preferences are written once for any game: they only call ``game.payoff_profile``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Protocol

import numpy as np

from econalign.theory.games import Game

__all__ = [
    "HomoEconomicus",
    "HomoMoralis",
    "Preference",
    "moralis_utility",
    "preference_from_config",
    "two_player_moralis",
]


class Preference(Protocol):
    """What solvers need from a preference."""

    name: str

    @property
    def kappa(self) -> float:
        """Degree of morality (0 for homo economicus)."""
        ...

    def utility(self, game: Game, x: Any, y: Any) -> float:
        """Utility of own strategy ``x`` when every other player uses ``y``."""
        ...


def two_player_moralis(payoff_against_other: Any, payoff_against_self: Any, kappa: float) -> Any:
    """(1 - kappa) pi(x, y) + kappa pi(x, x): the two-player homo moralis utility from its two payoffs.

    :func:`moralis_utility` with n = 2, for the hot paths (matrix games in the solvers, continuous prices) that
    compute the two payoffs themselves; no validation.

    Example:
        >>> two_player_moralis(0.0, 3.0, 0.5)  # PD with S = 0, R = 3: cooperating against a defector
        1.5
    """
    return (1.0 - kappa) * payoff_against_other + kappa * payoff_against_self


def moralis_utility(game: Game, x: Any, y: Any, *, kappa: float) -> float:
    """Homo moralis utility: each other player is replaced by a copy of oneself with probability kappa.

    u_kappa(x, y) = E_{m ~ Binomial(n - 1, kappa)} pi(x; m others play x, n - 1 - m play y). With two players this
    is (1 - kappa) pi(x, y) + kappa pi(x, x). The copies play x as independent draws, so for mixed x the payoff is
    the multilinear extension, and pi(x, x) is a polynomial in x.

    Args:
        game: Any ``Game``.
        x: Own strategy (action name, probability of the first action, or probability vector).
        y: Strategy of every other player.
        kappa: Degree of morality in [0, 1].

    Returns:
        The utility.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> g = PrisonersDilemma(T=5, R=3, P=1, S=0)
        >>> moralis_utility(g, "C", "D", kappa=0.5)  # (1 - 0.5) * S + 0.5 * R
        1.5

    References:
        Alger & Weibull (2013), Homo moralis, Econometrica 81(6), eq. (2); Alger & Weibull (2016), Evolution and
        Kantian morality, Games and Economic Behavior 98, eq. (4) (n-player, Binomial replacement).
    """
    _check_kappa(kappa)
    x, y = game.strategy(x), game.strategy(y)
    others = game.n_players - 1
    total = 0.0
    for m in range(others + 1):
        weight = math.comb(others, m) * kappa**m * (1.0 - kappa) ** (others - m)
        if weight > 0.0:
            total += weight * game.payoff_profile(x, [x] * m + [y] * (others - m))
    return float(total)


def _check_kappa(kappa: float) -> None:
    if not (isinstance(kappa, int | float | np.floating) and 0.0 <= kappa <= 1.0):
        raise ValueError(f"kappa must be a number in [0, 1], got {kappa!r}")


@dataclasses.dataclass(frozen=True)
class HomoEconomicus:
    """Homo economicus: u(x, y) = pi(x, y), own material payoff.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> HomoEconomicus().utility(PrisonersDilemma(T=5, R=3, P=1, S=0), "D", "C")
        5.0
    """

    name: ClassVar[str] = "economicus"

    @property
    def kappa(self) -> float:
        """Always 0.0."""
        return 0.0

    def utility(self, game: Game, x: Any, y: Any) -> float:
        """Material payoff pi(x, y) of own strategy x when every other player uses y."""
        return game.payoff(x, y)

    def config(self) -> dict[str, Any]:
        """The dict ``preference_from_config`` reads back."""
        return {"preference": self.name, "kappa": 0.0}


@dataclasses.dataclass(frozen=True)
class HomoMoralis:
    """Homo moralis with degree of morality kappa: u = (1 - kappa) pi(x, y) + kappa pi(x, x) in two-player games.

    Args:
        kappa: Degree of morality in [0, 1]; 0 is homo economicus, 1 homo kantiensis.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> HomoMoralis(kappa=0.5).utility(PrisonersDilemma(T=5, R=3, P=1, S=0), "D", "C")  # 0.5 T + 0.5 P
        3.0

    References:
        Alger & Weibull (2013), Homo moralis, Econometrica 81(6), eq. (2).
    """

    kappa: float

    name: ClassVar[str] = "moralis"

    def __post_init__(self) -> None:
        _check_kappa(self.kappa)

    def utility(self, game: Game, x: Any, y: Any) -> float:
        """Utility of own strategy x when every other player uses y (see ``moralis_utility``)."""
        return moralis_utility(game, x, y, kappa=float(self.kappa))

    def config(self) -> dict[str, Any]:
        """The dict ``preference_from_config`` reads back."""
        return {"preference": self.name, "kappa": float(self.kappa)}


def preference_from_config(config: dict[str, Any]) -> HomoEconomicus | HomoMoralis:
    """Build a preference from ``{"preference": "economicus" | "moralis", "kappa": float}``.

    Args:
        config: ``preference`` names the model; ``kappa`` is required for moralis and must be absent or 0 for
            economicus.

    Returns:
        The preference.

    Example:
        >>> preference_from_config({"preference": "moralis", "kappa": 0.5})
        HomoMoralis(kappa=0.5)
    """
    name = config.get("preference")
    if name == HomoEconomicus.name:
        if config.get("kappa", 0.0) not in (0, 0.0, None):
            raise ValueError(f"preference 'economicus' has kappa 0, got kappa={config['kappa']!r}")
        return HomoEconomicus()
    if name == HomoMoralis.name:
        if "kappa" not in config:
            raise ValueError("preference 'moralis' needs 'kappa'")
        return HomoMoralis(kappa=float(config["kappa"]))
    raise ValueError(f"unknown preference {name!r}; expected 'economicus' or 'moralis'")
