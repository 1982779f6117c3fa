"""Reference agents: rules without a model, scored through the same ``Scorer`` interface as LLM agents.

They validate the metrics end to end (an exact agent must agree 100% with its own theory, the random agent must
sit at chance), draw the theory lines on figures, and are the bar an LLM agent has to clear:

* ``exact_<theory>``: the theory's own strategy (one-hot on its answer; its mixed equilibrium where it has no
  discrete answer);
* ``ignoring_belief_<theory>``: the theory's best reply to a uniform belief, whatever the prompt states (the
  dataset's ``theory_ignoring_belief``), which shows how much agreement needs no attention to the belief;
* ``random``: uniform over the options;
* ``first_action``: always the game's first action (C in 2×2 games, whatever its label);
* ``second_action``: always the game's second action (D in 2×2 games);
* ``first_listed``: always the first-listed option, the position bias of an untuned model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import polars as pl

from econalign.evaluate.predictions import Theory
from econalign.evaluate.scoring import Scores
from econalign.theory import game_from_params
from econalign.theory.solvers import ignoring_belief

__all__ = [
    "ExactScorer",
    "FirstListedScorer",
    "FixedActionScorer",
    "IgnoringBeliefScorer",
    "RandomScorer",
    "reference_scorers",
]


@dataclasses.dataclass(frozen=True)
class ExactScorer:
    """The theory's strategy, read from the battery's ``theory_probs_<theory>`` column."""

    theory: Theory

    @property
    def name(self) -> str:
        """``exact_<theory>``."""
        return f"exact_{self.theory.name}"

    def score(self, battery: pl.DataFrame) -> Scores:
        """One-hot on the theory's answer (its equilibrium mixture where it has none)."""
        return Scores.from_probs([np.asarray(p) for p in battery[f"theory_probs_{self.theory.name}"]])


@dataclasses.dataclass(frozen=True)
class IgnoringBeliefScorer:
    """The theory's best reply to a uniform belief on every item (the dataset's ``theory_ignoring_belief``)."""

    theory: Theory

    @property
    def name(self) -> str:
        """``ignoring_belief_<theory>``."""
        return f"ignoring_belief_{self.theory.name}"

    def score(self, battery: pl.DataFrame) -> Scores:
        """One-hot on the theory's answer at a uniform belief."""
        probs = []
        for family, params, actions in zip(battery["family"], battery["params"], battery["actions"], strict=True):
            answer = ignoring_belief(game_from_params(family, params), self.theory.preference)
            probs.append(np.array([1.0 if a == answer else 0.0 for a in actions]))
        return Scores.from_probs(probs)


@dataclasses.dataclass(frozen=True)
class RandomScorer:
    """Uniform over the options (its argmax choices are drawn by the tie-break, so they sit at chance too)."""

    name: str = "random"

    def score(self, battery: pl.DataFrame) -> Scores:
        """Probability 1/K on each of the K options."""
        return Scores.from_probs([np.full(len(labels), 1.0 / len(labels)) for labels in battery["labels"]])


@dataclasses.dataclass(frozen=True)
class FixedActionScorer:
    """Always the same action of the game, by its index in ``game.actions``."""

    index: int = 0
    name: str = "first_action"

    def score(self, battery: pl.DataFrame) -> Scores:
        """One-hot on the option presenting the fixed action."""
        probs = []
        for family, params, actions in zip(battery["family"], battery["params"], battery["actions"], strict=True):
            game = game_from_params(family, params)
            target = game.actions[self.index]
            probs.append(np.array([1.0 if a == target else 0.0 for a in actions]))
        return Scores.from_probs(probs)


@dataclasses.dataclass(frozen=True)
class FirstListedScorer:
    """Always the first-listed option."""

    name: str = "first_listed"

    def score(self, battery: pl.DataFrame) -> Scores:
        """One-hot on position 0."""
        return Scores.from_probs([np.eye(len(labels))[0] for labels in battery["labels"]])


def reference_scorers(
    theories: Sequence[Theory],
) -> list[ExactScorer | IgnoringBeliefScorer | RandomScorer | FixedActionScorer | FirstListedScorer]:
    """Every reference rule for the given theories, in a fixed order (exact first, then the naive rules).

    Args:
        theories: The study's theories (``theories_from_config``).

    Returns:
        Scorers named ``exact_<theory>``, ``ignoring_belief_<theory>``, ``random``, ``first_action``,
        ``second_action``, ``first_listed``.
    """
    return [
        *(ExactScorer(t) for t in theories),
        *(IgnoringBeliefScorer(t) for t in theories),
        RandomScorer(),
        FixedActionScorer(0, "first_action"),
        FixedActionScorer(1, "second_action"),
        FirstListedScorer(),
    ]
