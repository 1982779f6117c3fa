"""Symmetric games: each class defines its action set and its material payoff function once.

Every game is symmetric and anonymous: a player's payoff depends on their own action and on how many of the other
players take each action. A strategy is a probability vector over ``game.actions``; for two-action games a scalar is
read as the probability of the first action, and an action name as the pure strategy that plays it.

Families (the dataset's ``family`` column) and their ``params()``:

* ``prisoners_dilemma``, ``stag_hunt``, ``chicken``, ``harmony``, ``coordination``, ``symmetric_2x2``:
  T, R, P, S (row player's payoffs: R = (C, C), S = (C, D), T = (D, C), P = (D, D); C is the first action).
* ``public_goods``: n, endowment, mpcr, n_levels.
* ``dictator``: pie, n_levels; ``ultimatum``: pie, n_levels; ``trust``: endowment, multiplier, n_levels.
* ``av_dilemma``: n_pedestrians, n_passengers.

Role convention for dictator, ultimatum and trust games (SCIENCE.md): each player is equally likely to hold either
role, and a strategy is a plan for both roles, so the game is a symmetric two-player game over plans. Those three
live in ``role_games`` and the base classes ``Game`` / ``MatrixGame`` in ``_base``; all are re-exported here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from econalign.theory._base import Game, MatrixGame, check_levels, grid, read_only
from econalign.theory.role_games import Dictator, Trust, Ultimatum

__all__ = [
    "GAMES",
    "AVDilemma",
    "Chicken",
    "Coordination",
    "Dictator",
    "Game",
    "Harmony",
    "MatrixGame",
    "PrisonersDilemma",
    "PublicGoods",
    "StagHunt",
    "SymmetricGame2x2",
    "Trust",
    "Ultimatum",
    "family_of",
    "game_from_params",
]


# --------------------------------------------------------------------------------------------------------------------
# Symmetric 2x2 families


@dataclasses.dataclass(frozen=True)
class SymmetricGame2x2(MatrixGame):
    """A symmetric 2x2 game with actions C (first) and D; no ordering imposed (family ``symmetric_2x2``).

    Args:
        T: Temptation, payoff of D against C.
        R: Reward, payoff of C against C.
        P: Punishment, payoff of D against D.
        S: Sucker's payoff, C against D.

    Example:
        >>> g = SymmetricGame2x2(T=5, R=3, P=1, S=0)
        >>> g.payoff("C", 0.5)
        1.5
    """

    T: float
    R: float
    P: float
    S: float

    family: ClassVar[str] = "symmetric_2x2"
    actions: ClassVar[tuple[str, ...]] = ("C", "D")
    # (description, predicate) pairs; the first that fails is named in the ValueError.
    ordering: ClassVar[tuple[tuple[str, Callable[[float, float, float, float], bool]], ...]] = ()

    def __post_init__(self) -> None:
        for name in ("T", "R", "P", "S"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        for description, holds in self.ordering:
            if not holds(self.T, self.R, self.P, self.S):
                raise ValueError(
                    f"{type(self).__name__} requires {description} (got T={self.T}, R={self.R}, P={self.P}, S={self.S})"
                )

    def payoff_matrix(self) -> np.ndarray:
        """Row player's payoffs ``[[R, S], [T, P]]`` (rows: own C, D; columns: other's C, D); read-only.

        Example:
            >>> PrisonersDilemma(T=5, R=3, P=1, S=0).payoff_matrix().tolist()
            [[3.0, 0.0], [5.0, 1.0]]
        """
        return self._matrix

    @functools.cached_property
    def _matrix(self) -> np.ndarray:
        return read_only(np.array([[self.R, self.S], [self.T, self.P]], dtype=np.float64))

    def params(self) -> dict[str, Any]:
        """``{"T", "R", "P", "S"}`` as floats."""
        return {"T": float(self.T), "R": float(self.R), "P": float(self.P), "S": float(self.S)}


@dataclasses.dataclass(frozen=True)
class PrisonersDilemma(SymmetricGame2x2):
    """Prisoner's dilemma: T > R > P > S and 2R > T + S (D dominant, (C, C) efficient).

    Example:
        >>> PrisonersDilemma(T=5, R=3, P=1, S=0).payoff("D", "C")
        5.0

    References:
        Rapoport & Chammah (1965), Prisoner's Dilemma, University of Michigan Press.
    """

    family: ClassVar[str] = "prisoners_dilemma"
    ordering: ClassVar = (
        ("T > R", lambda T, R, P, S: T > R),
        ("R > P", lambda T, R, P, S: R > P),
        ("P > S", lambda T, R, P, S: P > S),
        ("2R > T + S", lambda T, R, P, S: 2 * R > T + S),
    )


@dataclasses.dataclass(frozen=True)
class StagHunt(SymmetricGame2x2):
    """Stag hunt: R > T >= P > S (C = hunt stag; both (C, C) and (D, D) are equilibria).

    Example:
        >>> StagHunt(T=3, R=4, P=2, S=0).payoff("C", "C")
        4.0

    References:
        Skyrms (2004), The Stag Hunt and the Evolution of Social Structure, Cambridge University Press.
    """

    family: ClassVar[str] = "stag_hunt"
    ordering: ClassVar = (
        ("R > T", lambda T, R, P, S: R > T),
        ("T >= P", lambda T, R, P, S: T >= P),
        ("P > S", lambda T, R, P, S: P > S),
    )


@dataclasses.dataclass(frozen=True)
class Chicken(SymmetricGame2x2):
    """Chicken (hawk-dove): T > R > S > P (C = swerve/dove; best to do the opposite of the other).

    Example:
        >>> Chicken(T=4, R=3, P=0, S=1).payoff("C", "D")
        1.0

    References:
        Maynard Smith & Price (1973), The logic of animal conflict, Nature 246.
    """

    family: ClassVar[str] = "chicken"
    ordering: ClassVar = (
        ("T > R", lambda T, R, P, S: T > R),
        ("R > S", lambda T, R, P, S: R > S),
        ("S > P", lambda T, R, P, S: S > P),
    )


@dataclasses.dataclass(frozen=True)
class Harmony(SymmetricGame2x2):
    """Harmony: R > T and S > P, so C is strictly dominant, and R > P, so (C, C) also pays more than (D, D).

    Convention: R > P keeps renamed prisoner's dilemmas out. Swapping the names of C and D maps (T, R, P, S) to
    (S, P, R, T); a prisoner's dilemma renamed so satisfies R > T and S > P but has P > R. The prompts show
    neutral labels in either order, so a test family that held such games would pose training games again.

    Example:
        >>> Harmony(T=2, R=3, P=0, S=1).payoff("C", "D")
        1.0
    """

    family: ClassVar[str] = "harmony"
    ordering: ClassVar = (
        ("R > T", lambda T, R, P, S: R > T),
        ("S > P", lambda T, R, P, S: S > P),
        ("R > P", lambda T, R, P, S: R > P),
    )


@dataclasses.dataclass(frozen=True)
class Coordination(SymmetricGame2x2):
    """Coordination: R > T, R > S, P > S and P > T (matching the other beats either mismatch).

    Convention: P > T separates this family from the stag hunt (T >= P): deviating from (D, D) never pays, so both
    pure profiles are strict equilibria, and which one pays more (R vs P) is left free. R > S keeps renamed stag
    hunts out: swapping the names of C and D maps (T, R, P, S) to (S, P, R, T), and a stag hunt renamed so meets
    the other three conditions with S >= R (see :class:`Harmony`).

    Example:
        >>> Coordination(T=0, R=2, P=1, S=0).payoff("D", "D")
        1.0
    """

    family: ClassVar[str] = "coordination"
    ordering: ClassVar = (
        ("R > T", lambda T, R, P, S: R > T),
        ("R > S", lambda T, R, P, S: R > S),
        ("P > S", lambda T, R, P, S: P > S),
        ("P > T", lambda T, R, P, S: P > T),
    )


_FAMILIES_2X2: tuple[type[SymmetricGame2x2], ...] = (PrisonersDilemma, StagHunt, Chicken, Harmony, Coordination)


def family_of(T: float, R: float, P: float, S: float) -> str | None:
    """Classify a symmetric 2x2 game by the ordering of its payoffs.

    The five families' orderings are mutually exclusive; payoffs that satisfy none (for example T > R > P > S with
    2R <= T + S, or ties such as R = T) return None.

    Args:
        T: Temptation (D against C).
        R: Reward (C against C).
        P: Punishment (D against D).
        S: Sucker's payoff (C against D).

    Returns:
        The family name, or None.

    Example:
        >>> family_of(5, 3, 1, 0), family_of(4, 3, 0, 1), family_of(3, 3, 1, 0)
        ('prisoners_dilemma', 'chicken', None)
    """
    for cls in _FAMILIES_2X2:
        if all(holds(T, R, P, S) for _, holds in cls.ordering):
            return cls.family
    return None


# --------------------------------------------------------------------------------------------------------------------
# n-player and role games


@dataclasses.dataclass(frozen=True)
class PublicGoods(Game):
    """Linear public goods game: pi_i = e - c_i + m * sum_j c_j, contributions on a grid of ``n_levels`` amounts.

    Args:
        n: Number of players (>= 2).
        endowment: Endowment e > 0.
        mpcr: Marginal per-capita return m, in (1/n, 1) so the game is a social dilemma.
        n_levels: Number of equally spaced contribution levels from 0 to e (actions, in increasing order).

    Example:
        >>> g = PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=3)
        >>> g.actions
        ('contribute 0', 'contribute 5', 'contribute 10')
        >>> g.payoff("contribute 0", "contribute 10")
        25.0

    References:
        Isaac & Walker (1988), Group size effects in public goods provision, QJE 103(1).
    """

    n: int
    endowment: float
    mpcr: float
    n_levels: int = 5

    family: ClassVar[str] = "public_goods"

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 2:
            raise ValueError(f"n must be an integer >= 2, got {self.n}")
        if not self.endowment > 0:
            raise ValueError(f"endowment must be > 0, got {self.endowment}")
        if not 1.0 / self.n < self.mpcr < 1.0:
            raise ValueError(f"mpcr must satisfy 1/n < mpcr < 1 (got mpcr={self.mpcr}, n={self.n})")
        check_levels(self.n_levels)

    @property
    def n_players(self) -> int:
        """Number of players ``n``."""
        return int(self.n)

    @functools.cached_property
    def contributions(self) -> tuple[float, ...]:
        """Contribution of each action."""
        return grid(self.endowment, self.n_levels)

    @functools.cached_property
    def actions(self) -> tuple[str, ...]:
        """Action names ``"contribute {amount}"``."""
        return tuple(f"contribute {c:g}" for c in self.contributions)

    def params(self) -> dict[str, Any]:
        """``{"n", "endowment", "mpcr", "n_levels"}``."""
        return {
            "n": int(self.n),
            "endowment": float(self.endowment),
            "mpcr": float(self.mpcr),
            "n_levels": int(self.n_levels),
        }

    def earnings(self, own: float, others: Sequence[float]) -> float:
        """Payoff e - c_i + m * (c_i + sum of others' contributions), for contribution amounts.

        Example:
            >>> PublicGoods(n=3, endowment=10, mpcr=0.5).earnings(10, [0, 10])
            10.0
        """
        return float(self.endowment - own + self.mpcr * (own + float(np.sum(others))))

    def pure_payoff(self, own: int, counts: Sequence[int]) -> float:
        """Earnings of contribution level ``own`` when ``counts[k]`` others contribute level ``k``."""
        c = self.contributions
        return self.earnings(c[own], [c[k] for k, m in enumerate(counts) for _ in range(m)])

    def payoff_profile(self, own: Any, others: Sequence[Any]) -> float:
        """Expected earnings; by linearity, the earnings at every player's expected contribution.

        Same value as the generic ``Game.payoff_profile`` (tested), in O(n) instead of a sum over count profiles.
        """
        if len(others) != self.n_players - 1:
            raise ValueError(f"PublicGoods(n={self.n}) needs {self.n_players - 1} other strategies, got {len(others)}")
        c = np.asarray(self.contributions)
        return self.earnings(float(self.strategy(own) @ c), [float(self.strategy(y) @ c) for y in others])


@dataclasses.dataclass(frozen=True)
class AVDilemma(MatrixGame):
    """Autonomous-vehicle dilemma: a car with k passengers either stays (killing n pedestrians) or swerves (killing k).

    Convention (SCIENCE.md): everyone owns a car and is equally exposed as passenger and as pedestrian; each chooses
    the rule of their own car. Own death risk, up to a positive factor: pi(x, y) = -k 1{x = swerve} - n 1{y = stay}.

    Args:
        n_pedestrians: Pedestrians killed if the car stays (n >= 1).
        n_passengers: Passengers killed if the car swerves (k >= 1).

    Example:
        >>> AVDilemma(n_pedestrians=10, n_passengers=1).payoff_matrix().tolist()
        [[-10.0, 0.0], [-11.0, -1.0]]

    References:
        Bonnefon, Shariff & Rahwan (2016), The social dilemma of autonomous vehicles, Science 352(6293).
    """

    n_pedestrians: int
    n_passengers: int

    family: ClassVar[str] = "av_dilemma"
    actions: ClassVar[tuple[str, ...]] = ("stay", "swerve")

    def __post_init__(self) -> None:
        for name in ("n_pedestrians", "n_passengers"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def payoff_matrix(self) -> np.ndarray:
        """Rows own stay/swerve, columns the other's stay/swerve; read-only."""
        return self._matrix

    @functools.cached_property
    def _matrix(self) -> np.ndarray:
        n, k = float(self.n_pedestrians), float(self.n_passengers)
        return read_only(np.array([[-n, 0.0], [-k - n, -k]], dtype=np.float64))

    def params(self) -> dict[str, Any]:
        """``{"n_pedestrians", "n_passengers"}``."""
        return {"n_pedestrians": int(self.n_pedestrians), "n_passengers": int(self.n_passengers)}


GAMES: dict[str, type[Game]] = {
    cls.family: cls for cls in (SymmetricGame2x2, *_FAMILIES_2X2, PublicGoods, Dictator, Ultimatum, Trust, AVDilemma)
}


def game_from_params(family: str, params: dict[str, Any] | str) -> Game:
    """Rebuild a game from a dataset row's ``family`` and ``params`` (a dict or its JSON string).

    Args:
        family: One of ``GAMES``' keys.
        params: The game's ``params()``.

    Returns:
        The game; ordering violations raise ValueError as in the constructors.

    Example:
        >>> game_from_params("prisoners_dilemma", '{"T": 5, "R": 3, "P": 1, "S": 0}')
        PrisonersDilemma(T=5, R=3, P=1, S=0)
    """
    if isinstance(params, str):
        params = json.loads(params)
    if family not in GAMES:
        raise ValueError(f"unknown game family {family!r}; known: {sorted(GAMES)}")
    return GAMES[family](**params)
