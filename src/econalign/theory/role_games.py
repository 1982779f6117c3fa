"""Dictator, ultimatum and trust games under the role convention (re-exported by ``games``).

Convention (SCIENCE.md): each player is equally likely to hold either role, and a strategy is a plan for both
roles, so each game is a symmetric two-player game over plans: A[i, j] = (first-role payoff + second-role payoff)
/ 2 when plan i meets plan j.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np

from econalign.theory._base import MatrixGame, check_levels, grid, read_only

__all__ = ["Dictator", "Trust", "Ultimatum"]


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
        return read_only(np.array([[0.5 * sum(self.role_payoffs(mine, theirs)) for theirs in plans] for mine in plans]))


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
        check_levels(self.n_levels)

    @functools.cached_property
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """``(gift,)`` per action."""
        return tuple((g,) for g in grid(self.pie, self.n_levels))

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
        check_levels(self.n_levels)

    @functools.cached_property
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """``(offer, threshold)`` per action."""
        levels = grid(self.pie, self.n_levels)
        return tuple((o, t) for o in levels for t in levels)

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
        check_levels(self.n_levels)

    @functools.cached_property
    def plans(self) -> tuple[tuple[float, ...], ...]:
        """``(amount sent, fraction returned)`` per action."""
        return tuple((s, r) for s in grid(self.endowment, self.n_levels) for r in grid(1.0, self.n_levels))

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
