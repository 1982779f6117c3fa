"""Candidate decision problems (a game and what is known about the other players) and the theory's answers.

A ``Situation`` is a game plus either a stated belief, as counts of the other player's past choices, or the
same-type convention. ``decide`` asks ``econalign.theory`` for an agent's answer and applies the tie rule: an answer
exists only if it beats the runner-up by ``min_margin`` of the game's payoff range; a same-type answer exists only if
the symmetric equilibrium is unique and pure, and every other pure choice fails decisively to be a best reply to
itself (so the utility-implied reasoning never rests on a near-tie).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from econalign.data.templates import HISTORY
from econalign.io import derive_seed
from econalign.theory import compositions
from econalign.theory.games import GAMES, Game, SymmetricGame2x2, game_from_params
from econalign.theory.preferences import Preference
from econalign.theory.solvers import best_response, ignoring_belief, same_type_answer

__all__ = [
    "MAX_PAYOFF_RANGE",
    "PARAM_GRIDS",
    "Decision",
    "Situation",
    "SituationSpace",
    "decide",
    "game_space",
    "is_held_out",
    "same_type_allowed",
    "strategic_key",
]

MAX_PAYOFF_RANGE = 50
"""Widest 2x2 payoff range (largest minus smallest payoff) that ``game_space`` enumerates.

Every integer (T, R, P, S) of the range is visited: a range of 50 is 6.8 million candidates (about a minute of
synthesis), one of 100 already needs gigabytes and a range of 200 (the schema's payoff bounds) does not fit in
memory.
"""

PARAM_GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "public_goods": {
        "n": (3, 4, 5),
        "endowment": (10, 20),
        "mpcr": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
        "n_levels": (2,),
    },
    "dictator": {"pie": (10, 20, 30), "n_levels": (2, 3)},
    "ultimatum": {"pie": (10, 20, 30), "n_levels": (2,)},
    "trust": {"endowment": (10, 20), "multiplier": (2, 3, 4), "n_levels": (2,)},
}
"""Parameter grids of the families that are not symmetric 2x2 games (2x2 payoffs are integers in a range)."""


@dataclasses.dataclass(frozen=True)
class Situation:
    """A decision problem before presentation: a game and a belief.

    Attributes:
        game: The game.
        counts: The other player's past choices in ``game.actions`` order, out of ``HISTORY`` games; None for the
            same-type convention.
    """

    game: Game
    counts: tuple[int, ...] | None

    @property
    def belief(self) -> np.ndarray | None:
        """The stated belief as a probability vector over ``game.actions`` (None for the same-type convention)."""
        return None if self.counts is None else np.asarray(self.counts, dtype=np.float64) / sum(self.counts)

    @property
    def key(self) -> tuple[str, str, tuple[int, ...] | None]:
        """Identity used to avoid duplicate items: family, parameters and counts."""
        return self.game.family, json.dumps(self.game.params(), sort_keys=True), self.counts


@dataclasses.dataclass(frozen=True)
class Decision:
    """The theory's answer for one agent.

    Attributes:
        action: The answer, or None where the theory gives none (tie, mixed or multiple equilibria).
        index: Its index in ``game.actions``, or None.
        margin: Utility gap to the runner-up as a fraction of the payoff range (None for a mixed/many equilibria).
        utilities: Each action's utility, in ``game.actions`` order: against the belief, or against the
            equilibrium for the same-type convention.
        ignoring_belief: The best response to a uniform belief (ties to the first action): what the theory says
            when the stated belief is ignored.
    """

    action: str | None
    index: int | None
    margin: float | None
    utilities: tuple[float, ...]
    ignoring_belief: str


def same_type_allowed(game: Game) -> bool:
    """Whether same-type items are posed for this game (symmetric 2x2 games; other solvers are too slow to sample)."""
    return isinstance(game, SymmetricGame2x2)


def strategic_key(game: Game) -> str:
    """The game up to changes that no preference of this project can tell apart, as canonical JSON.

    Homo economicus and homo moralis rank actions by a weighted sum of payoffs, and the tie margin is a share of the
    payoff range, so a positive affine transformation of a 2x2 game's payoffs ((10, 6, 2, 0) for (5, 3, 1, 0), or
    every payoff plus one) poses the same decision, as does a public goods game with another endowment (the
    options are shares of it). Such games are one class; the held-out partition splits classes, not games. The
    role games (dictator, ultimatum, trust: held-out families by SCIENCE.md's convention) are keyed by all their
    parameters, although their pie or endowment changes no answer either: an ultimatum game would be a single class,
    leaving one side of a payoff partition empty.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> strategic_key(PrisonersDilemma(T=5, R=3, P=1, S=0)) == strategic_key(PrisonersDilemma(T=11, R=7, P=3, S=1))
        True
    """
    params = game.params()
    if isinstance(game, SymmetricGame2x2):
        low, high = min(params.values()), max(params.values())
        params = {name: round((value - low) / (high - low), 9) for name, value in params.items()}
    elif game.family == "public_goods":
        params = {name: value for name, value in params.items() if name != "endowment"}
    return json.dumps(params, sort_keys=True)


def is_held_out(seed: int, game: Game, *, fraction: float) -> bool:
    """Whether a game's strategic class (:func:`strategic_key`) belongs to the held-out partition (never trained on).

    The partition is a seeded hash of the family and the class, so it does not depend on any agent, and a game is
    held out together with its rescaled and shifted copies.

    Args:
        seed: The configuration's seed.
        game: The game.
        fraction: Share of strategic classes held out.

    Returns:
        True for held-out games.
    """
    draw = derive_seed(seed, "held_out_payoffs", game.family, strategic_key(game))
    return draw < fraction * 2**32


@functools.lru_cache(maxsize=64)
def game_space(family: str, *, low: int, high: int) -> tuple[Game, ...]:
    """Every game of a family that the synthesis draws from.

    Symmetric 2x2 families: all integer payoffs T, R, P, S in [low, high] that satisfy the family's ordering
    (``theory.games``' own predicates). Other families: ``PARAM_GRIDS``, keeping the valid combinations.

    Args:
        family: A family name of ``theory.games.GAMES``.
        low: Smallest 2x2 payoff.
        high: Largest 2x2 payoff.

    Returns:
        The games, in a fixed order.
    """
    cls = GAMES.get(family)
    if cls is None:
        raise ValueError(f"unknown game family {family!r}; known: {sorted(GAMES)}")
    if issubclass(cls, SymmetricGame2x2):
        if high - low > MAX_PAYOFF_RANGE:
            raise ValueError(f"payoff range [{low}, {high}] is wider than MAX_PAYOFF_RANGE ({MAX_PAYOFF_RANGE})")
        values = np.arange(low, high + 1)
        grid = np.stack(np.meshgrid(values, values, values, values, indexing="ij"), axis=-1).reshape(-1, 4)
        t, r, p, s = (grid[:, i] for i in range(4))
        mask = np.ones(len(grid), dtype=bool)
        for _, holds in cls.ordering:
            mask &= np.asarray(holds(t, r, p, s), dtype=bool)
        return tuple(cls(T=int(a), R=int(b), P=int(c), S=int(d)) for a, b, c, d in grid[mask])
    if family not in PARAM_GRIDS:
        raise ValueError(f"family {family!r} has no parameter grid; supported: {sorted(PARAM_GRIDS)} and 2x2 games")
    grid = PARAM_GRIDS[family]
    games = []
    for values in itertools.product(*grid.values()):
        try:
            games.append(game_from_params(family, dict(zip(grid, values, strict=True))))
        except ValueError:
            continue
    return tuple(games)


class SituationSpace(Sequence[Situation]):
    """Every situation over a set of games, indexable without building them all.

    Stated beliefs: each game with every count vector out of ``HISTORY`` games (11 for two actions, 286 for four);
    same type: each game once.

    Args:
        games: The games.
        same_type: Same-type situations instead of stated beliefs.
    """

    def __init__(self, games: Sequence[Game], *, same_type: bool) -> None:
        self.games = tuple(games)
        self.same_type = same_type
        sizes = [1 if same_type else len(_belief_counts(g.n_actions)) for g in self.games]
        self._ends = np.cumsum(sizes)

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, index: int) -> Situation:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        g = int(np.searchsorted(self._ends, index, side="right"))
        game = self.games[g]
        if self.same_type:
            return Situation(game, None)
        start = int(self._ends[g - 1]) if g else 0
        return Situation(game, _belief_counts(game.n_actions)[int(index) - start])


@functools.lru_cache(maxsize=16)
def _belief_counts(parts: int) -> tuple[tuple[int, ...], ...]:
    """Every count vector of the ``HISTORY`` past games over ``parts`` actions, first count descending.

    Theory's lexicographic order reversed: the situation spaces index into this order, so the datasets' draws
    depend on it.
    """
    return tuple(reversed(compositions(HISTORY, parts)))


def decide(situation: Situation, preference: Preference, *, min_margin: float) -> Decision:
    """The theory's answer for one agent, with the tie rule applied.

    Args:
        situation: Game and belief.
        preference: The agent's preference.
        min_margin: Tie rule: smallest utility gap to the runner-up, as a fraction of the payoff range.

    Returns:
        The decision; ``action`` is None where the theory gives no discrete answer.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> decide(Situation(PrisonersDilemma(T=5, R=3, P=1, S=0), (3, 7)), HomoMoralis(kappa=0.5),
        ...        min_margin=0.02).action
        'C'
    """
    ignoring = ignoring_belief(situation.game, preference)
    if situation.counts is not None:
        response = _best_response(situation.game, preference, tuple(int(c) for c in situation.counts))
        decisive = response.margin >= min_margin
        return Decision(
            action=response.action if decisive else None,
            index=response.index if decisive else None,
            margin=response.margin,
            utilities=response.utilities,
            ignoring_belief=ignoring,
        )
    return _same_type_decision(situation.game, preference, min_margin, ignoring)


@functools.lru_cache(maxsize=1 << 16)
def _best_response(game: Game, preference: Preference, counts: tuple[int, ...]) -> Any:
    return best_response(game, preference, np.asarray(counts, dtype=np.float64) / sum(counts))


@functools.lru_cache(maxsize=1 << 14)
def _same_type_decision(game: Game, preference: Preference, min_margin: float, ignoring: str) -> Decision:
    answer = same_type_answer(game, preference, min_margin=min_margin)
    # The utilities shown are those against the candidate action (against the first action when there is none).
    star = answer.candidate
    utilities = answer.replies[0 if star is None else star].utilities
    if answer.equilibrium is None:
        return Decision(None, None, None, utilities, ignoring)
    return Decision(answer.equilibrium.action, star, answer.equilibrium.margin, utilities, ignoring)
