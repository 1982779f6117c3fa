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
role, and a strategy is a plan for both roles, so the game is a symmetric two-player game over plans.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from econalign.theory._multilinear import as_strategy, expected_anonymous_payoff

__all__ = [
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


class Game(abc.ABC):
    """A finite symmetric game: the protocol every game in econalign follows.

    Subclasses set ``family`` and ``actions`` and implement ``pure_payoff``; everything else (mixed strategies,
    expectations over the other players) is derived here, so each payoff function is written once.
    """

    family: ClassVar[str]
    actions: tuple[str, ...]

    @property
    @abc.abstractmethod
    def n_players(self) -> int:
        """Number of players, including oneself."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """The JSON-able parameters that rebuild the game with ``game_from_params(family, params)``."""

    @abc.abstractmethod
    def pure_payoff(self, own: int, counts: Sequence[int]) -> float:
        """Material payoff of playing action ``own`` when ``counts[k]`` of the other players play action ``k``."""

    @property
    def n_actions(self) -> int:
        """Number of (discrete) actions."""
        return len(self.actions)

    def strategy(self, s: Any) -> np.ndarray:
        """Return ``s`` as a probability vector over ``actions``.

        Args:
            s: An action name, a probability of the first action (two-action games only) or a probability vector.

        Returns:
            Float64 array of shape ``[K]`` summing to one.
        """
        return as_strategy(s, self.actions)

    def payoff(self, own: Any, others: Any) -> float:
        """Expected material payoff of strategy ``own`` when every other player plays ``others`` independently.

        Args:
            own: Own strategy (see ``strategy``).
            others: The strategy every other player uses.

        Returns:
            The expected payoff pi(own, others).
        """
        return self.payoff_profile(own, [others] * (self.n_players - 1))

    def payoff_profile(self, own: Any, others: Sequence[Any]) -> float:
        """Expected material payoff of ``own`` against one strategy per other player (independent draws).

        Args:
            own: Own strategy.
            others: ``n_players - 1`` strategies, one per other player.

        Returns:
            The expected payoff.
        """
        if len(others) != self.n_players - 1:
            raise ValueError(f"{type(self).__name__} needs {self.n_players - 1} other strategies, got {len(others)}")
        return expected_anonymous_payoff(
            self.pure_payoff, self.strategy(own), [self.strategy(y) for y in others], n_actions=self.n_actions
        )

    @functools.cached_property
    def payoff_range(self) -> float:
        """Max minus min of the pure-profile payoffs; the unit of the tie rule (margins are relative to it)."""
        values = [
            self.pure_payoff(a, counts)
            for a in range(self.n_actions)
            for counts in _compositions(self.n_players - 1, self.n_actions)
        ]
        return float(max(values) - min(values))

    def action_index(self, action: str | int) -> int:
        """Index of an action given by name or index."""
        if isinstance(action, str):
            try:
                return self.actions.index(action)
            except ValueError:
                raise ValueError(f"unknown action {action!r}; {type(self).__name__} has {self.actions}") from None
        if not 0 <= int(action) < self.n_actions:
            raise ValueError(f"action index {action} out of range for {self.n_actions} actions")
        return int(action)


def _read_only(matrix: np.ndarray) -> np.ndarray:
    """Payoff matrices are cached and shared between calls, so they must not be modified in place."""
    matrix.setflags(write=False)
    return matrix


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """All tuples of ``parts`` non-negative integers summing to ``total``."""
    if parts == 1:
        return [(total,)]
    return [(first, *rest) for first in range(total + 1) for rest in _compositions(total - first, parts - 1)]


class MatrixGame(Game):
    """A symmetric two-player game given by the row player's payoff matrix; pi(x, y) = x^T A y."""

    n_players: ClassVar[int] = 2

    @abc.abstractmethod
    def payoff_matrix(self) -> np.ndarray:
        """Row player's payoffs ``A[own, other]``, shape ``[K, K]``."""

    def pure_payoff(self, own: int, counts: Sequence[int]) -> float:
        """Material payoff of ``own`` against the one other player's action (the index with count one)."""
        return float(self.payoff_matrix()[own, int(np.argmax(counts))])

    def payoff(self, own: Any, others: Any) -> float:
        """Expected payoff x^T A y (see ``Game.payoff``)."""
        return float(self.strategy(own) @ (self.payoff_matrix() @ self.strategy(others)))

    def payoff_profile(self, own: Any, others: Sequence[Any]) -> float:
        """Expected payoff against the single other player's strategy (see ``Game.payoff_profile``)."""
        if len(others) != 1:
            raise ValueError(f"{type(self).__name__} is a two-player game: pass one other strategy, got {len(others)}")
        return self.payoff(own, others[0])

    @functools.cached_property
    def payoff_range(self) -> float:
        """Max minus min of the payoff matrix."""
        matrix = self.payoff_matrix()
        return float(matrix.max() - matrix.min())


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
        return _read_only(np.array([[self.R, self.S], [self.T, self.P]], dtype=np.float64))

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
    """Harmony: R > T and S > P, so C is strictly dominant.

    Example:
        >>> Harmony(T=2, R=3, P=0, S=1).payoff("C", "D")
        1.0
    """

    family: ClassVar[str] = "harmony"
    ordering: ClassVar = (
        ("R > T", lambda T, R, P, S: R > T),
        ("S > P", lambda T, R, P, S: S > P),
    )


@dataclasses.dataclass(frozen=True)
class Coordination(SymmetricGame2x2):
    """Coordination: R > T, P > S and P > T (matching the other beats either mismatch).

    Convention: the extra condition P > T separates this family from the stag hunt (T >= P): deviating from
    (D, D) never pays, so both pure profiles are strict equilibria, and which one pays more (R vs P) is left free.

    Example:
        >>> Coordination(T=0, R=2, P=1, S=0).payoff("D", "D")
        1.0
    """

    family: ClassVar[str] = "coordination"
    ordering: ClassVar = (
        ("R > T", lambda T, R, P, S: R > T),
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


def _grid(top: float, n_levels: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(0.0, top, n_levels))


def _check_levels(n_levels: int) -> None:
    if int(n_levels) != n_levels or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2, got {n_levels}")


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
        _check_levels(self.n_levels)

    @property
    def n_players(self) -> int:
        """Number of players ``n``."""
        return int(self.n)

    @functools.cached_property
    def contributions(self) -> tuple[float, ...]:
        """Contribution of each action."""
        return _grid(self.endowment, self.n_levels)

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
        return _read_only(np.array([[-n, 0.0], [-k - n, -k]], dtype=np.float64))

    def params(self) -> dict[str, Any]:
        """``{"n_pedestrians", "n_passengers"}``."""
        return {"n_pedestrians": int(self.n_pedestrians), "n_passengers": int(self.n_passengers)}


class _RoleGame(MatrixGame):
    """Two-role game under the role convention: A[i, j] = (first-role payoff + second-role payoff) / 2."""

    @property
    @abc.abstractmethod
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """One tuple per action: the plan's decision in each role."""

    @abc.abstractmethod
    def role_payoffs(self, mine: tuple[float, ...], theirs: tuple[float, ...]) -> tuple[float, float]:
        """My payoff in the first role and in the second role, when my plan meets their plan."""

    def payoff_matrix(self) -> np.ndarray:
        """Row plan's expected payoff against the column plan, each role equally likely."""
        return self._matrix

    @functools.cached_property
    def _matrix(self) -> np.ndarray:
        plans = self.plans
        return _read_only(
            np.array([[0.5 * sum(self.role_payoffs(mine, theirs)) for theirs in plans] for mine in plans])
        )


@dataclasses.dataclass(frozen=True)
class Dictator(_RoleGame):
    """Dictator game under the role convention: plan = gift g; pi(x, y) = (pie - g_x)/2 + g_y/2.

    Under linear payoffs pi(x, x) = pie/2 for every plan, so kappa has no bite: every homo moralis with kappa < 1
    gives nothing, like homo economicus.

    Args:
        pie: Amount the dictator splits (> 0).
        n_levels: Number of equally spaced gifts from 0 to pie.

    Example:
        >>> Dictator(pie=10, n_levels=3).payoff("give 0", "give 10")
        10.0

    References:
        Forsythe, Horowitz, Savin & Sefton (1994), Fairness in simple bargaining experiments, GEB 6(3).
    """

    pie: float
    n_levels: int = 5

    family: ClassVar[str] = "dictator"

    def __post_init__(self) -> None:
        if not self.pie > 0:
            raise ValueError(f"pie must be > 0, got {self.pie}")
        _check_levels(self.n_levels)

    @functools.cached_property
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """``(gift,)`` per action."""
        return tuple((g,) for g in _grid(self.pie, self.n_levels))

    @functools.cached_property
    def actions(self) -> tuple[str, ...]:
        """Action names ``"give {amount}"``."""
        return tuple(f"give {g:g}" for (g,) in self.plans)

    def role_payoffs(self, mine: tuple[float, ...], theirs: tuple[float, ...]) -> tuple[float, float]:
        """Keep pie - gift as dictator; receive their gift as recipient."""
        return self.pie - mine[0], theirs[0]

    def params(self) -> dict[str, Any]:
        """``{"pie", "n_levels"}``."""
        return {"pie": float(self.pie), "n_levels": int(self.n_levels)}


@dataclasses.dataclass(frozen=True)
class Ultimatum(_RoleGame):
    """Ultimatum game under the role convention: plan = (offer o, smallest accepted offer t).

    As proposer my offer o meets their threshold: (pie - o) if o >= t_theirs else 0; as responder their offer meets
    my threshold: o_theirs if o_theirs >= t else 0. Offers and thresholds share one grid.

    Args:
        pie: Amount to split (> 0).
        n_levels: Number of equally spaced offers (and thresholds) from 0 to pie; n_levels**2 plans. The default 3
            (nothing, half, all) keeps the plan set at 9, where the equilibrium search is exhaustive.

    Example:
        >>> g = Ultimatum(pie=10, n_levels=2)
        >>> g.actions
        ('offer 0, accept >= 0', 'offer 0, accept >= 10', 'offer 10, accept >= 0', 'offer 10, accept >= 10')
        >>> g.payoff("offer 0, accept >= 10", "offer 0, accept >= 10")
        0.0

    References:
        Güth, Schmittberger & Schwarze (1982), An experimental analysis of ultimatum bargaining, JEBO 3(4).
    """

    pie: float
    n_levels: int = 3

    family: ClassVar[str] = "ultimatum"

    def __post_init__(self) -> None:
        if not self.pie > 0:
            raise ValueError(f"pie must be > 0, got {self.pie}")
        _check_levels(self.n_levels)

    @functools.cached_property
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """``(offer, threshold)`` per action."""
        grid = _grid(self.pie, self.n_levels)
        return tuple((o, t) for o in grid for t in grid)

    @functools.cached_property
    def actions(self) -> tuple[str, ...]:
        """Action names ``"offer {o}, accept >= {t}"``."""
        return tuple(f"offer {o:g}, accept >= {t:g}" for o, t in self.plans)

    def role_payoffs(self, mine: tuple[float, ...], theirs: tuple[float, ...]) -> tuple[float, float]:
        """Proposer share if my offer is accepted; their offer if I accept it."""
        (offer, threshold), (their_offer, their_threshold) = mine, theirs
        return (self.pie - offer) * (offer >= their_threshold), their_offer * (their_offer >= threshold)

    def params(self) -> dict[str, Any]:
        """``{"pie", "n_levels"}``."""
        return {"pie": float(self.pie), "n_levels": int(self.n_levels)}


@dataclasses.dataclass(frozen=True)
class Trust(_RoleGame):
    """Trust game under the role convention: plan = (amount sent s, fraction r of the tripled amount returned).

    The investor keeps e - s and gets back r_theirs * multiplier * s; the trustee keeps (1 - r) * multiplier *
    s_theirs. With the same plan on both sides pi(x, x) = (e + (multiplier - 1) s) / 2: it rises with the amount
    sent and does not depend on the amount returned.

    Args:
        endowment: Investor's endowment e (> 0).
        multiplier: Factor applied to the amount sent (> 1).
        n_levels: Number of equally spaced amounts sent (0..e) and return fractions (0..1); n_levels**2 plans. The
            default 3 keeps the plan set at 9, where the equilibrium search is exhaustive.

    Example:
        >>> g = Trust(endowment=10, multiplier=3, n_levels=2)
        >>> g.actions
        ('send 0, return 0%', 'send 0, return 100%', 'send 10, return 0%', 'send 10, return 100%')
        >>> g.payoff("send 10, return 0%", "send 10, return 0%")
        15.0

    References:
        Berg, Dickhaut & McCabe (1995), Trust, reciprocity, and social history, GEB 10(1).
    """

    endowment: float
    multiplier: float = 3.0
    n_levels: int = 3

    family: ClassVar[str] = "trust"

    def __post_init__(self) -> None:
        if not self.endowment > 0:
            raise ValueError(f"endowment must be > 0, got {self.endowment}")
        if not self.multiplier > 1:
            raise ValueError(f"multiplier must be > 1, got {self.multiplier}")
        _check_levels(self.n_levels)

    @functools.cached_property
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """``(amount sent, fraction returned)`` per action."""
        return tuple((s, r) for s in _grid(self.endowment, self.n_levels) for r in _grid(1.0, self.n_levels))

    @functools.cached_property
    def actions(self) -> tuple[str, ...]:
        """Action names ``"send {s}, return {100 r}%"``."""
        return tuple(f"send {s:g}, return {100 * r:g}%" for s, r in self.plans)

    def role_payoffs(self, mine: tuple[float, ...], theirs: tuple[float, ...]) -> tuple[float, float]:
        """Investor: e - s + r_theirs m s; trustee: (1 - r) m s_theirs."""
        (sent, returned), (their_sent, their_returned) = mine, theirs
        investor = self.endowment - sent + their_returned * self.multiplier * sent
        trustee = (1.0 - returned) * self.multiplier * their_sent
        return investor, trustee

    def params(self) -> dict[str, Any]:
        """``{"endowment", "multiplier", "n_levels"}``."""
        return {
            "endowment": float(self.endowment),
            "multiplier": float(self.multiplier),
            "n_levels": int(self.n_levels),
        }


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
