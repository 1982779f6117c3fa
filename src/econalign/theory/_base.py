"""The game protocol: symmetric, anonymous games with mixed strategies (re-exported by ``games``).

A player's payoff depends on their own action and on how many of the other players take each action. Subclasses
write the pure-profile payoff once; expectations over mixed strategies are derived here.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from econalign.theory._multilinear import as_strategy, expected_anonymous_payoff

__all__ = ["Game", "MatrixGame"]


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
            for counts in compositions(self.n_players - 1, self.n_actions)
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


def read_only(matrix: np.ndarray) -> np.ndarray:
    """Payoff matrices are cached and shared between calls, so they must not be modified in place."""
    matrix.setflags(write=False)
    return matrix


def compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """All tuples of ``parts`` non-negative integers summing to ``total``."""
    if parts == 1:
        return [(total,)]
    return [(first, *rest) for first in range(total + 1) for rest in compositions(total - first, parts - 1)]


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


def grid(top: float, n_levels: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(0.0, top, n_levels))


def check_levels(n_levels: int) -> None:
    if int(n_levels) != n_levels or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2, got {n_levels}")
