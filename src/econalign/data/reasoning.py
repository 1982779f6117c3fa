"""Utility-implied reasoning: the training target that explains an answer with the agent's own utilities.

Every number comes from ``econalign.theory``: material payoffs from ``game.payoff`` and utilities from
``preference.utility``; this module only arranges them as short lines a small model can imitate:

* stated belief: the belief as probabilities, each option's expected points (with the arithmetic for 2x2 games),
  for homo moralis the points if the other(s) chose the same and the kappa-weighted value, then the comparison;
  with ``numbers="counts"`` the 2x2 arithmetic runs on whole numbers instead: each option's points summed over
  the other's past games (``3*5 + 7*1 = 15 + 7 = 22``), which orders the options exactly as the expectation
  does and asks only for times tables and additions of a small model;
* same type: for each choice the other could make, each option's utility against it, then the one choice that is
  a best reply to itself (the symmetric equilibrium).

The decision line comes first by default, or last when ``reasoning_first``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from econalign.data.templates import HISTORY, belief_counts, decision_line, format_number, join_phrases
from econalign.theory.games import Game, MatrixGame
from econalign.theory.preferences import Preference

__all__ = ["NUMBER_STYLES", "reasoning_lines", "render_target"]

NUMBER_STYLES = ("probabilities", "counts")


def render_target(
    game: Game,
    preference: Preference,
    *,
    belief: Any,
    labels: Sequence[str],
    order: Sequence[int],
    answer: str,
    reasoning_first: bool,
    reasoning: bool = True,
    history: int = HISTORY,
    numbers: str = "probabilities",
) -> str:
    r"""The target reply: ``decision_line`` of the answer's label and the utility-implied reasoning.

    Args:
        game: The game.
        preference: The agent's preference.
        belief: As in ``render_item``: probability of the first action, a probability vector, or None (same type).
        labels: Option labels in presentation order.
        order: Action indices in presentation order.
        answer: The theory's answer (an action name); it must be what the displayed utilities imply.
        reasoning_first: Put the reasoning first and the decision line last.
        reasoning: Include the reasoning (False gives the decision line alone).
        history: Number of past games the belief's counts refer to.
        numbers: ``"probabilities"`` (expected points per game) or ``"counts"`` (whole-number points summed over
            the past games; 2x2 games with a stated belief).

    Returns:
        The target text, lines separated by ``\n``.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> from econalign.theory.preferences import HomoEconomicus
        >>> print(render_target(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoEconomicus(), belief=0.3,
        ...                     labels=["A", "B"], order=[0, 1], answer="D", reasoning_first=False))
        Answer: B
        The other picks A with chance 3/10 = 0.3 and B with chance 7/10 = 0.7.
        Expected points: A = 0.3*3 + 0.7*0 = 0.9; B = 0.3*5 + 0.7*1 = 2.2.
        B is best: 2.2 > 0.9.
        >>> print(render_target(PrisonersDilemma(T=5, R=3, P=1, S=0), HomoEconomicus(), belief=0.3,
        ...                     labels=["A", "B"], order=[0, 1], answer="D", reasoning_first=True, numbers="counts"))
        In their last 10 games the other picked A 3 times and B 7 times.
        My points against those 10 games: A = 3*3 + 7*0 = 9 + 0 = 9; B = 3*5 + 7*1 = 15 + 7 = 22.
        B is best: 22 > 9.
        Answer: B
    """
    label = dict(zip([game.actions[a] for a in order], labels, strict=True))[answer]
    if not reasoning:
        return decision_line(label)
    lines = reasoning_lines(
        game, preference, belief=belief, labels=labels, order=order, answer=answer, history=history, numbers=numbers
    )
    lines = [*lines, decision_line(label)] if reasoning_first else [decision_line(label), *lines]
    return "\n".join(lines)


def reasoning_lines(
    game: Game,
    preference: Preference,
    *,
    belief: Any,
    labels: Sequence[str],
    order: Sequence[int],
    answer: str,
    history: int = HISTORY,
    numbers: str = "probabilities",
) -> list[str]:
    """The reasoning lines that derive ``answer`` from the agent's utilities (see ``render_target``).

    Raises:
        ValueError: If the utilities do not single out ``answer`` (a tie, or a different best option), or
            ``numbers`` is unknown.
    """
    if numbers not in NUMBER_STYLES:
        raise ValueError(f"numbers must be one of {NUMBER_STYLES}, not {numbers!r}")
    order = [int(a) for a in order]
    if belief is None:
        return _same_type_lines(game, preference, labels, order, answer)
    if numbers == "counts" and isinstance(game, MatrixGame) and game.n_actions == 2 and game.n_players == 2:
        return _count_lines(game, preference, belief, labels, order, answer, history)
    return _belief_lines(game, preference, belief, labels, order, answer, history)


def _each_other(game: Game) -> str:
    return "The other" if game.n_players == 2 else "Each other player"


def _all_others(game: Game) -> str:
    return "the other picks" if game.n_players == 2 else "all the others pick"


def _is_moralis(preference: Preference) -> bool:
    return preference.name == "moralis"


def _belief_lines(
    game: Game,
    preference: Preference,
    belief: Any,
    labels: Sequence[str],
    order: list[int],
    answer: str,
    history: int,
) -> list[str]:
    counts = belief_counts(game, belief, history=history)
    history = sum(counts)
    y = game.strategy(belief)
    chances = [
        f"{labels[i]} with chance {counts[a]}/{history} = {format_number(counts[a] / history)}"
        for i, a in enumerate(order)
    ]
    lines = [f"{_each_other(game)} picks {join_phrases(chances)}."]
    expected = [game.payoff(game.actions[a], y) for a in order]
    if isinstance(game, MatrixGame) and game.n_actions == 2:
        cells = [
            " + ".join(
                f"{format_number(counts[b] / history)}*{format_number(game.payoff(game.actions[a], game.actions[b]))}"
                for b in order
            )
            + f" = {_value(e)}"
            for a, e in zip(order, expected, strict=True)
        ]
    else:
        cells = [_value(e) for e in expected]
    lines.append("Expected points: " + "; ".join(f"{labels[i]} = {c}" for i, c in enumerate(cells)) + ".")
    utilities = [preference.utility(game, game.actions[a], y) for a in order]
    if _is_moralis(preference):
        kappa = float(preference.kappa)
        same = [game.payoff(game.actions[a], game.actions[a]) for a in order]
        lines.append(
            f"Points if {_all_others(game)} the same as me: "
            + "; ".join(f"{labels[i]} = {format_number(s)}" for i, s in enumerate(same))
            + "."
        )
        weights = f"{_value(1 - kappa)}*expected + {_value(kappa)}*same"
        linear = all(
            math.isclose(u, (1 - kappa) * e + kappa * s, rel_tol=1e-9, abs_tol=1e-9)
            for u, e, s in zip(utilities, expected, same, strict=True)
        )
        if linear:
            w_own, w_same = _value(1 - kappa), _value(kappa)
            cells = [
                f"{w_own}*{_value(e)} + {w_same}*{format_number(s)} = {_value(u)}"
                for e, s, u in zip(expected, same, utilities, strict=True)
            ]
            lines.append(f"Value = {weights}: " + "; ".join(f"{labels[i]} = {c}" for i, c in enumerate(cells)) + ".")
        else:
            # n-player games with non-linear payoffs: each other player is my copy with chance kappa (no closed form).
            lines.append(
                f"Value, with each other player copying me with chance {_value(kappa)}: "
                + "; ".join(f"{labels[i]} = {_value(u)}" for i, u in enumerate(utilities))
                + "."
            )
    lines.append(_conclusion(game, labels, order, utilities, answer))
    return lines


def _count_lines(
    game: Game,
    preference: Preference,
    belief: Any,
    labels: Sequence[str],
    order: list[int],
    answer: str,
    history: int,
) -> list[str]:
    counts = belief_counts(game, belief, history=history)
    history = sum(counts)
    times = join_phrases([f"{labels[i]} {counts[a]} times" for i, a in enumerate(order)])
    lines = [f"In their last {history} games the other picked {times}."]
    totals, cells = [], []
    for a in order:
        terms = [(counts[b], game.payoff(game.actions[a], game.actions[b])) for b in order]
        products = [n * x for n, x in terms]
        totals.append(sum(products))
        cells.append(
            " + ".join(f"{n}*{format_number(x)}" for n, x in terms)
            + " = "
            + " + ".join(_value(p) for p in products)
            + f" = {_value(totals[-1])}"
        )
    lines.append(
        f"My points against those {history} games: "
        + "; ".join(f"{labels[i]} = {c}" for i, c in enumerate(cells))
        + "."
    )
    y = game.strategy(belief)
    utilities = [preference.utility(game, game.actions[a], y) for a in order]
    values = totals
    if _is_moralis(preference):
        kappa = float(preference.kappa)
        same = [history * game.payoff(game.actions[a], game.actions[a]) for a in order]
        lines.append(
            f"My points if the other picked the same as me all {history} times: "
            + "; ".join(
                f"{labels[i]} = {history}*{format_number(s / history)} = {_value(s)}" for i, s in enumerate(same)
            )
            + "."
        )
        w_own, w_same = _value(1 - kappa), _value(kappa)
        values = [(1 - kappa) * t + kappa * s for t, s in zip(totals, same, strict=True)]
        lines.append(
            f"Value = {w_own}*mine + {w_same}*same: "
            + "; ".join(
                f"{labels[i]} = {w_own}*{_value(t)} + {w_same}*{_value(s)} = {_value(v)}"
                for i, (t, s, v) in enumerate(zip(totals, same, values, strict=True))
            )
            + "."
        )
    for value, utility in zip(values, utilities, strict=True):
        if not math.isclose(value, history * utility, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"counted value {value} is not {history} x the utility {utility}")
    lines.append(_conclusion(game, labels, order, values, answer))
    return lines


def _value(x: float) -> str:
    """A computed value as the reasoning states it: exact where six decimals hold it, else to two decimals.

    Products of stated weights and points (0.75*1.5 = 1.125, 0.0625*3.1 = 0.19375) must add up on the page; values
    with no short exact form (a third) are rounded as prompts round numbers.

    Example:
        >>> _value(1.125), _value(2.5), _value(1 / 3)
        ('1.125', '2.5', '0.33')
    """
    exact = format_number(x, digits=6)
    return exact if math.isclose(float(exact), x, rel_tol=0.0, abs_tol=1e-9) else format_number(x)


def _conclusion(game: Game, labels: Sequence[str], order: list[int], utilities: Sequence[float], answer: str) -> str:
    ranked = np.argsort(-np.asarray(utilities), kind="stable")
    best, second = int(ranked[0]), int(ranked[1])
    if game.actions[order[best]] != answer or not utilities[best] > utilities[second]:
        raise ValueError(f"the utilities {list(utilities)} do not single out the answer {answer!r}")
    return f"{labels[best]} is best: {_value(utilities[best])} > {_value(utilities[second])}."


def _same_type_lines(
    game: Game, preference: Preference, labels: Sequence[str], order: list[int], answer: str
) -> list[str]:
    if game.n_players == 2:
        lines = [
            "The other reasons exactly like me, so we pick the same, and that pick must be my best reply to itself."
        ]
    else:
        lines = ["The others reason exactly like me, so we all pick the same, and it must be my best reply to itself."]
    moralis = _is_moralis(preference)
    if moralis:
        kappa = float(preference.kappa)
        # Both terms of (1 - kappa) * pi(x, y) + kappa * pi(x, x), named, so the text states the utility it applies.
        lines.append(
            f"Value = {_value(1 - kappa)}*(my points against their pick) + {_value(kappa)}*(my points "
            f"if {_all_others(game)} the same as me)."
        )
    verb = "is worth" if moralis else "gives"
    stable = []
    for i, z in enumerate(order):
        values = [preference.utility(game, game.actions[a], game.actions[z]) for a in order]
        best = max(values)
        is_stable = values[i] == best and sum(v == best for v in values) == 1
        stable.append(is_stable)
        cells = ", ".join(f"{labels[j]} {verb} {_value(v)}" for j, v in enumerate(values))
        verdict = f"so {labels[i]} is a best reply to itself" if is_stable else f"so {labels[i]} is not"
        lines.append(f"If {_all_others(game)} {labels[i]}: {cells}; {verdict}.")
    winners = [game.actions[a] for a, s in zip(order, stable, strict=True) if s]
    if winners != [answer]:
        raise ValueError(f"the same-type utilities single out {winners}, not the answer {answer!r}")
    label = labels[[game.actions[a] for a in order].index(answer)]
    lines.append(f"{label} is the only pick that is a best reply to itself.")
    return lines
