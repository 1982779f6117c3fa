"""What each theory says about one battery item: its answer, every action's utility, cooperation levels, covariates.

The battery compares agents with every theory in the study: homo economicus and homo moralis at each configured
κ (the aligned agents' and the κ grid's). Theories are named ``economicus`` and ``moralis_k<100κ>``
(``moralis_k50`` for κ = 0.5), the names used in column names and metrics.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from econalign.config import kappa_agent_name
from econalign.data.draws import Situation, decide
from econalign.theory import (
    AVDilemma,
    Dictator,
    Game,
    HomoEconomicus,
    HomoMoralis,
    PublicGoods,
    SymmetricGame2x2,
    Trust,
    Ultimatum,
    symmetric_equilibria,
)

__all__ = [
    "ItemTheory",
    "Theory",
    "analyse",
    "cooperation_levels",
    "covariates",
    "theories_from_config",
    "theory_name",
]

COVARIATES = ("temptation", "belief", "mpcr")
"""Payoff parameters the incentive-sensitivity logits use (None where a family lacks one)."""


@dataclasses.dataclass(frozen=True)
class Theory:
    """A named preference the battery scores agents against.

    Attributes:
        name: ``economicus`` or ``moralis_k<100κ>``.
        preference: The preference object.
    """

    name: str
    preference: HomoEconomicus | HomoMoralis

    @property
    def kappa(self) -> float:
        """Degree of morality (0 for economicus)."""
        return float(self.preference.kappa)


def theory_name(preference: HomoEconomicus | HomoMoralis) -> str:
    """Name of a preference's theory.

    Example:
        >>> theory_name(HomoMoralis(kappa=0.5)), theory_name(HomoEconomicus())
        ('moralis_k50', 'economicus')
    """
    if isinstance(preference, HomoMoralis):
        return kappa_agent_name(preference.kappa)
    return "economicus"


def theories_from_config(config: Mapping[str, Any]) -> list[Theory]:
    """Economicus, then homo moralis at every κ of the configured agents and the κ grid, by increasing κ.

    Args:
        config: A resolved configuration (agents already include the κ grid).

    Returns:
        Distinct theories; moralis at κ = 0 is kept apart from economicus only by name.
    """
    kappas = sorted({float(a.get("kappa", 0.0)) for a in config["agents"] if a["preference"] == "moralis"})
    theories = [Theory("economicus", HomoEconomicus())]
    seen = {"economicus"}
    for kappa in kappas:
        preference = HomoMoralis(kappa=kappa)
        name = theory_name(preference)
        if name not in seen:
            theories.append(Theory(name, preference))
            seen.add(name)
    return theories


def cooperation_levels(game: Game) -> np.ndarray:
    """How cooperative each action is, in [0, 1], in ``game.actions`` order.

    C = 1, D = 0 in 2×2 games; the share of the endowment contributed, the pie given or offered, the endowment
    sent in trust games; swerve = 1 in the AV dilemma. NaN for games without a convention.

    Example:
        >>> cooperation_levels(PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=3)).tolist()
        [0.0, 0.5, 1.0]
    """
    if isinstance(game, SymmetricGame2x2):
        return np.array([1.0, 0.0])
    if isinstance(game, AVDilemma):
        return np.array([0.0, 1.0])
    if isinstance(game, PublicGoods):
        return np.asarray(game.contributions) / float(game.endowment)
    if isinstance(game, Dictator | Ultimatum):
        return np.array([plan[0] for plan in game.plans]) / float(game.pie)
    if isinstance(game, Trust):
        return np.array([plan[0] for plan in game.plans]) / float(game.endowment)
    return np.full(game.n_actions, np.nan)


def covariates(game: Game, belief: float | None) -> dict[str, float | None]:
    """Payoff parameters for the incentive-sensitivity regressions.

    ``temptation`` = (T − R)/(T − S) in 2×2 games (the gain from defecting on a cooperator, relative to the payoff
    spread; None when T = S), ``belief`` as stated, ``mpcr`` the public-goods return.

    Example:
        >>> from econalign.theory import PrisonersDilemma
        >>> covariates(PrisonersDilemma(T=5, R=3, P=1, S=0), 0.5)
        {'temptation': 0.4, 'belief': 0.5, 'mpcr': None}
    """
    out: dict[str, float | None] = dict.fromkeys(COVARIATES)
    if isinstance(game, SymmetricGame2x2) and game.T != game.S:
        out["temptation"] = float((game.T - game.R) / (game.T - game.S))
    if isinstance(game, PublicGoods):
        out["mpcr"] = float(game.mpcr)
    if belief is not None and belief == belief:  # None or NaN: same-type item
        out["belief"] = float(belief)
    return out


@dataclasses.dataclass(frozen=True)
class ItemTheory:
    """A theory's view of one item, actions in ``game.actions`` order.

    Attributes:
        predicted: The decisive discrete answer (the dataset's tie rule), or None.
        utilities: Each pure action's utility against the belief, or, for same-type items, against the unique
            symmetric equilibrium; NaN where undefined (no unique equilibrium).
        probabilities: The theory's strategy as a distribution: one-hot on ``predicted``; otherwise see ``analyse``.
        payoff_range: The game's payoff range (the unit of utility differences and regrets).
    """

    predicted: str | None
    utilities: tuple[float, ...]
    probabilities: tuple[float, ...]
    payoff_range: float


@functools.lru_cache(maxsize=65536)
def analyse(
    game: Game, preference: HomoEconomicus | HomoMoralis, counts: tuple[int, ...] | None, *, min_margin: float
) -> ItemTheory:
    """A theory's answer, utilities and strategy for one item (memoised: items repeat across splits).

    The answer is the dataset's own (``econalign.data.draws.decide``, with the same tie rule), so an exact agent
    reproduces every dataset's ``optimal_action``. Where the theory has no discrete answer, its strategy is the
    unique symmetric equilibrium (mixed) of a same-type item, the average of several equilibria (uniform over the
    actions when there is none), or uniform over exactly tied best replies to a stated belief.

    Args:
        game: The item's game.
        preference: The theory's preference.
        counts: The stated belief as counts of the other player's past choices (``game.actions`` order), or None
            for a same-type opponent.
        min_margin: Tie rule, as a fraction of the payoff range (``data.tie_margin``).

    Returns:
        The item's ``ItemTheory``.

    Example:
        >>> from econalign.theory import PrisonersDilemma
        >>> view = analyse(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoMoralis(kappa=0.5), (5, 5), min_margin=0.02)
        >>> view.predicted, view.utilities  # u(C) = 0.5 (1.5) + 0.5 (3); u(D) = 0.5 (3) + 0.5 (1)
        ('C', (2.25, 2.0))
    """
    k = game.n_actions
    decision = decide(Situation(game, counts), preference, min_margin=min_margin)
    utilities = np.asarray(decision.utilities, dtype=np.float64)
    if decision.action is not None:
        probabilities = np.eye(k)[decision.index]
    elif counts is not None:
        probabilities = (utilities >= utilities.max() - 1e-12).astype(np.float64)
    else:
        equilibria = symmetric_equilibria(game, preference) if k == 2 else None
        if equilibria is not None and equilibria.is_unique:
            x = np.asarray(equilibria[0].probabilities)
            utilities = np.array([preference.utility(game, game.actions[a], x) for a in range(k)])
            probabilities = x
        else:
            utilities = np.full(k, np.nan)
            probabilities = np.mean([e.probabilities for e in equilibria], axis=0) if equilibria else np.ones(k)
    probabilities = probabilities / probabilities.sum()
    return ItemTheory(
        predicted=decision.action,
        utilities=tuple(float(u) for u in utilities),
        probabilities=tuple(float(p) for p in probabilities),
        payoff_range=float(game.payoff_range),
    )
