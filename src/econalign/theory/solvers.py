"""Best responses and symmetric equilibria for any game and preference.

The solvers work on any ``Game`` (any payoff function) and any preference with a ``utility(game, x, y)``; they use
that utilities are polynomials in the mixing probabilities (see ``_simplex``). The continuous price solvers live in
``continuous`` and are re-exported here. A separate brute-force checker lives in ``checks``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from econalign.theory import _simplex, _support
from econalign.theory.continuous import best_response_price, maximise_scalar, symmetric_equilibrium_price
from econalign.theory.games import Game, MatrixGame
from econalign.theory.preferences import HomoEconomicus, HomoMoralis, Preference, two_player_moralis

__all__ = [
    "MIN_MARGIN",
    "BestResponse",
    "Equilibrium",
    "EquilibriumSet",
    "MixedOptimum",
    "SameTypeAnswer",
    "best_response",
    "best_response_price",
    "ignoring_belief",
    "maximise_scalar",
    "optimal_mixed",
    "predicted_action",
    "same_type_answer",
    "symmetric_equilibria",
    "symmetric_equilibrium_price",
]

MIN_MARGIN = 0.02
"""Tie rule (SCIENCE.md): an answer is posed only if it beats the runner-up by 2% of the game's payoff range."""

_PURE_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class BestResponse:
    """Best pure action against a belief, with every action's utility.

    Attributes:
        index: Index of the best action (the first one on an exact tie).
        action: Its name.
        utilities: Utility of each action, in ``game.actions`` order.
        margin: (best - second best utility) / payoff range; 0 on a tie or a constant game.
        payoff_range: The game's payoff range, the unit of ``margin``.
    """

    index: int
    action: str
    utilities: tuple[float, ...]
    margin: float
    payoff_range: float

    def is_decisive(self, *, min_margin: float = MIN_MARGIN) -> bool:
        """Whether the best action beats every other by at least ``min_margin`` of the payoff range."""
        return self.margin >= min_margin

    def near_best(self, *, min_margin: float = MIN_MARGIN) -> tuple[int, ...]:
        """Indices of actions within ``min_margin`` of the payoff range of the best (the best included)."""
        best = max(self.utilities)
        return tuple(i for i, u in enumerate(self.utilities) if best - u < min_margin * self.payoff_range or u == best)


@dataclasses.dataclass(frozen=True)
class MixedOptimum:
    """Utility-maximising mixed strategy against a belief.

    Attributes:
        strategy: Probability of the first action (two-action games) or the probability vector.
        probabilities: The probability vector.
        utility: Its utility.
    """

    strategy: float | tuple[float, ...]
    probabilities: tuple[float, ...]
    utility: float


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """A symmetric equilibrium x* in argmax_x u(x, x*).

    Attributes:
        strategy: Probability of the first action (two-action games) or the probability vector.
        probabilities: The probability vector.
        is_pure: Whether x* puts all mass on one action.
        action: That action's name, else None.
        utility: u(x*, x*).
        margin: For a pure equilibrium, (u(x*, x*) - best other pure action's utility against x*) / payoff range;
            None for a mixed one.
    """

    strategy: float | tuple[float, ...]
    probabilities: tuple[float, ...]
    is_pure: bool
    action: str | None
    utility: float
    margin: float | None


@dataclasses.dataclass(frozen=True)
class EquilibriumSet:
    """All symmetric equilibria found, with what is known about multiplicity.

    Behaves as a sequence of ``Equilibrium``.

    Attributes:
        equilibria: Isolated equilibria, pure first, then by probability of the first action.
        continuum: Whether a whole segment of strategies are equilibria (then ``equilibria`` lists only its ends).
        exhaustive: Whether the search covers every equilibrium: two actions; two players and at most 10 actions
            (support enumeration); or a utility separable in own and others' strategies (u(x', y) = f(x') + g(y),
            as in linear public goods) with a strict pure equilibrium. Otherwise only pure equilibria and mixtures of
            two actions were searched, and ``is_unique`` is False.
    """

    equilibria: tuple[Equilibrium, ...]
    continuum: bool = False
    exhaustive: bool = True

    def __iter__(self) -> Iterator[Equilibrium]:
        return iter(self.equilibria)

    def __len__(self) -> int:
        return len(self.equilibria)

    def __getitem__(self, i: int) -> Equilibrium:
        return self.equilibria[i]

    @property
    def is_unique(self) -> bool:
        """Exactly one equilibrium, no continuum, and the search was exhaustive."""
        return len(self.equilibria) == 1 and not self.continuum and self.exhaustive

    @property
    def is_pure(self) -> bool:
        """Unique and pure: the only case a same-type item may be posed as a discrete choice."""
        return self.is_unique and self.equilibria[0].is_pure

    @property
    def unique(self) -> Equilibrium | None:
        """The equilibrium when unique, else None."""
        return self.equilibria[0] if self.is_unique else None


def _utility_fn(game: Game, preference: Preference) -> Callable[[np.ndarray, np.ndarray], float]:
    """u(x, y) on probability vectors; for two-player matrix games the known preferences' closed form."""
    if isinstance(game, MatrixGame) and isinstance(preference, HomoEconomicus | HomoMoralis):
        # moralis_utility with n = 2, without per-call validation: the solvers call it thousands of times.
        matrix, kappa = game.payoff_matrix(), float(preference.kappa)
        return lambda x, y: float(two_player_moralis(x @ matrix @ y, x @ matrix @ x, kappa))
    return lambda x, y: preference.utility(game, x, y)


def _degree(game: Game, preference: Preference) -> int:
    """Degree of u(x', y) in x' along a segment: 1 without copies of oneself (kappa = 0), else n."""
    return 1 if float(preference.kappa) == 0.0 else game.n_players


def _as_output_strategy(x: np.ndarray) -> float | tuple[float, ...]:
    return float(x[0]) if len(x) == 2 else tuple(float(v) for v in x)


def best_response(game: Game, preference: Preference, belief: Any) -> BestResponse:
    """Best pure action against a belief about the other players.

    Args:
        game: Any game.
        preference: ``HomoEconomicus()`` or ``HomoMoralis(kappa)``.
        belief: Strategy of every other player: probability of the first action (two-action games), a probability
            vector or an action name.

    Returns:
        The best action, each action's utility and the margin (SCIENCE.md tie rule: pose only if >= ``MIN_MARGIN``).

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> best_response(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoMoralis(kappa=0.5), 0.5).action
        'C'

    References:
        Alger & Weibull (2013), Econometrica 81(6): a homo moralis maximises u_kappa(x, y) given y.
    """
    y = game.strategy(belief)
    k = game.n_actions
    utilities = np.array([preference.utility(game, _simplex.vertex(k, a), y) for a in range(k)])
    index = int(np.argmax(utilities))
    span = game.payoff_range
    second = np.max(np.delete(utilities, index)) if k > 1 else -np.inf
    margin = float((utilities[index] - second) / span) if span > 0 else 0.0
    return BestResponse(index, game.actions[index], tuple(float(u) for u in utilities), margin, span)


def optimal_mixed(game: Game, preference: Preference, belief: Any) -> MixedOptimum:
    """Utility-maximising mixed strategy against a belief; interior for homo moralis when pi(x, x) is concave.

    Args:
        game: Any game.
        preference: A preference.
        belief: Strategy of every other player.

    Returns:
        The maximiser (exact for two actions; vertices and edges exact, faces by local search otherwise).

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> round(optimal_mixed(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoMoralis(kappa=0.4), 0.0).strategy, 6)
        0.75

    References:
        Alger & Weibull (2013), Econometrica 81(6), Section 3: pi(x, x) is quadratic in a mixing probability.
    """
    y = game.strategy(belief)
    u = _utility_fn(game, preference)
    x, value = _simplex.max_on_simplex(lambda z: u(z, y), game.n_actions, _degree(game, preference))
    return MixedOptimum(_as_output_strategy(x), tuple(float(v) for v in x), value)


def symmetric_equilibria(game: Game, preference: Preference) -> EquilibriumSet:
    """All symmetric equilibria x* in argmax_x u(x, x*), pure and mixed, with multiplicity.

    Candidates are the pure strategies and the mixed first-order points: for two-player matrix games with at most 10
    actions and the economicus/moralis preferences, the solutions of the (linear) first-order conditions on every
    support, since u(x', y) = (1 - kappa) x'Ay + kappa x'Ax'; otherwise, for any game and preference, the
    first-order points on each edge of the simplex (roots of a polynomial, found exactly). Each candidate is kept
    only if no mixed deviation beats it.

    Args:
        game: Any game.
        preference: A preference with ``utility`` and ``kappa``.

    Returns:
        The equilibria; ``is_unique`` / ``is_pure`` say whether a same-type item has a discrete answer.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> eqs = symmetric_equilibria(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoMoralis(kappa=0.5))
        >>> eqs.is_unique, eqs.is_pure, round(eqs[0].strategy, 6)
        (True, False, 0.666667)

    References:
        Alger & Weibull (2013), Econometrica 81(6), Definition 2 (homo moralis equilibrium, here symmetric);
        Alger & Weibull (2016), Games and Economic Behavior 98 (n players).
    """
    k = game.n_actions
    u = _utility_fn(game, preference)
    degree = _degree(game, preference)
    span = game.payoff_range
    if span == 0:
        equilibria = tuple(_equilibrium(game, u, _simplex.vertex(k, a)) for a in range(k))
        return EquilibriumSet(equilibria, continuum=True, exhaustive=True)
    tol = 1e-9 * span

    def is_equilibrium(x: np.ndarray) -> bool:
        # Pure deviations first: cheap, and most candidates fail them.
        value = u(x, x) + tol
        if any(u(_simplex.vertex(k, b), x) > value for b in range(k)):
            return False
        return _simplex.max_on_simplex(lambda z: u(z, x), k, degree)[1] <= value

    if k > 2 and _support.is_separable(u, k):
        # u(x', y) = f(x') + g(y): best replies ignore y, so the equilibria are exactly the maximisers of f.
        strict = _support.strict_maximiser(lambda z: u(z, _simplex.vertex(k, 0)), k, degree, tol)
        if strict is not None:
            return EquilibriumSet((_equilibrium(game, u, _simplex.vertex(k, strict)),), exhaustive=True)
    candidates = [_simplex.vertex(k, a) for a in range(k)]
    continuum = False
    singular: list[_support.SingularSystem] = []
    if isinstance(game, MatrixGame) and isinstance(preference, HomoEconomicus | HomoMoralis) and k <= 10:
        more, singular = _support.support_candidates(game.payoff_matrix(), float(preference.kappa))
        candidates += more
        exhaustive = True
    else:
        for a, b in itertools.combinations(range(k), 2):
            roots, flat = _support.edge_first_order_points(u, k, a, b, degree=max(degree, 2), scale=span)
            if flat and is_equilibrium(0.5 * (_simplex.vertex(k, a) + _simplex.vertex(k, b))):
                continuum = True
            candidates += [t * _simplex.vertex(k, a) + (1 - t) * _simplex.vertex(k, b) for t in roots if 0 < t < 1]
        exhaustive = k == 2
    found: list[np.ndarray] = []
    for x in candidates:
        if not any(np.abs(x - f).max() < 1e-7 for f in found) and is_equilibrium(x):
            found.append(x)
    if k == 2 or (len(found) <= 1 and not continuum):
        # With many actions only needed to tell "unique" from "one point plus a continuum"; each check solves an LP.
        flat_points = (_support.interior_point(*system) for system in singular)
        continuum = any(x is not None and is_equilibrium(x) for x in flat_points)
    equilibria = sorted((_equilibrium(game, u, x) for x in found), key=lambda e: (not e.is_pure, -e.probabilities[0]))
    return EquilibriumSet(tuple(equilibria), continuum=continuum, exhaustive=exhaustive)


def _equilibrium(game: Game, u: Callable[[Any, Any], float], x: np.ndarray) -> Equilibrium:
    k = game.n_actions
    top = int(np.argmax(x))
    is_pure = bool(x[top] >= 1.0 - _PURE_TOL)
    if is_pure:
        x = _simplex.vertex(k, top)
    value = u(x, x)
    margin = None
    if is_pure and game.payoff_range > 0:
        others = [u(_simplex.vertex(k, b), x) for b in range(k) if b != top]
        margin = float((value - max(others)) / game.payoff_range) if others else None
    return Equilibrium(
        strategy=_as_output_strategy(x),
        probabilities=tuple(float(v) for v in x),
        is_pure=is_pure,
        action=game.actions[top] if is_pure else None,
        utility=float(value),
        margin=margin,
    )


@dataclasses.dataclass(frozen=True)
class SameTypeAnswer:
    """The theory's answer against an opponent who reasons exactly like oneself (the same-type convention).

    Attributes:
        replies: The best reply to each pure action, in ``game.actions`` order.
        candidate: The one pure action that is decisively its own best reply while every other pure action is
            decisively beaten against itself (no near-tie equilibrium competes); None otherwise.
        equilibrium: The unique symmetric equilibrium when it is pure, the candidate and decisive: the answer. None
            where the theory gives no discrete prediction.
    """

    replies: tuple[BestResponse, ...]
    candidate: int | None
    equilibrium: Equilibrium | None


def same_type_answer(game: Game, preference: Preference, *, min_margin: float = MIN_MARGIN) -> SameTypeAnswer:
    """The decisive answer against a same-type opponent, or why there is none (the one definition of the rule).

    A cheap screen first: exactly one pure action must be a decisive best reply to itself, and every other pure
    action must be decisively beaten against itself. Only then is the (slower) equilibrium solver asked, and its
    unique symmetric equilibrium must be that action, pure and decisive.

    Args:
        game: Any game.
        preference: A preference.
        min_margin: Tie rule, as a fraction of the payoff range.

    Returns:
        A :class:`SameTypeAnswer`; ``equilibrium.action`` is the answer when ``equilibrium`` is set.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> same_type_answer(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoMoralis(kappa=0.9)).equilibrium.action
        'C'
    """
    replies = tuple(best_response(game, preference, action) for action in game.actions)
    stable = [z for z, reply in enumerate(replies) if reply.index == z and reply.margin >= min_margin]
    span = game.payoff_range
    if len(stable) != 1 or any(
        z != stable[0] and max(reply.utilities) - reply.utilities[z] < min_margin * span
        for z, reply in enumerate(replies)
    ):
        return SameTypeAnswer(replies, None, None)
    (star,) = stable
    equilibria = symmetric_equilibria(game, preference)
    unique = equilibria.unique if equilibria.is_pure else None
    if unique is None or unique.action != game.actions[star] or (unique.margin or 0.0) < min_margin:
        return SameTypeAnswer(replies, star, None)
    return SameTypeAnswer(replies, star, unique)


@functools.lru_cache(maxsize=65536)
def ignoring_belief(game: Game, preference: Preference) -> str:
    """The theory's best reply to a uniform belief, whatever the prompt states (ties to the first action).

    The reference rule "the theory ignoring the stated belief": the dataset's ``theory_ignoring_belief`` column and
    the battery's reference agent of that name.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoMoralis
        >>> game = PrisonersDilemma(T=5, R=3, P=1, S=0)
        >>> ignoring_belief(game, HomoMoralis(kappa=0.4)), ignoring_belief(game, HomoMoralis(kappa=0.6))
        ('D', 'C')
    """
    return best_response(game, preference, np.full(game.n_actions, 1.0 / game.n_actions)).action


def predicted_action(
    game: Game, preference: Preference, belief: Any | None = None, *, min_margin: float = MIN_MARGIN
) -> str | None:
    """The theory's discrete answer, or None where the theory gives no prediction.

    With a belief: the best response if it is decisive (margin >= ``min_margin``). Without one (same-type
    opponent): :func:`same_type_answer` (the unique symmetric equilibrium if it is pure and decisive and no other
    pure action comes within the margin of being one); None if equilibria are mixed, many or nearly tied.

    Args:
        game: Any game.
        preference: A preference.
        belief: Strategy of every other player, or None for the same-type convention.
        min_margin: Tie rule, as a fraction of the payoff range.

    Returns:
        An action name or None.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoEconomicus, HomoMoralis
        >>> g = PrisonersDilemma(T=5, R=3, P=1, S=0)
        >>> predicted_action(g, HomoEconomicus()), predicted_action(g, HomoMoralis(kappa=0.5))
        ('D', None)
    """
    if belief is not None:
        response = best_response(game, preference, belief)
        return response.action if response.is_decisive(min_margin=min_margin) else None
    equilibrium = same_type_answer(game, preference, min_margin=min_margin).equilibrium
    return None if equilibrium is None else equilibrium.action
