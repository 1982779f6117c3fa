"""Neutral prompt templates: a game, its payoff table and a belief, rendered as chat messages.

Prompts never hint at a preference: they describe the game with a compact payoff table, state what is known about
the other player(s) and list the options under neutral labels. Two conventions fix what is known:

* stated belief: the other player's past choices as counts out of ``HISTORY`` games ("chose A in 3 and B in 7 of
  their last 10 games"), read as the probability of each option (``belief`` = P(first action) = 3/10);
* same type: "the other player reasons exactly like you" (``belief`` is None); the answer is a symmetric
  equilibrium.

Several paraphrases exist per kind of game; those with ``held_out=True`` are reserved for the unseen-paraphrase test
split. The decision format (``decision_line`` / ``parse_decision``) is defined here once for synthesis, training
and evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from econalign.data.answers import DECISION_PREFIX, decision_line, parse_decision
from econalign.theory.games import Game, MatrixGame, PublicGoods, SymmetricGame2x2

__all__ = [
    "DECISION_PREFIX",
    "FAMILY_RULES",
    "HISTORY",
    "TEMPLATES",
    "RenderedItem",
    "Template",
    "answer_first_instruction",
    "belief_counts",
    "choices_phrase",
    "decision_line",
    "format_number",
    "join_phrases",
    "parse_decision",
    "render_item",
    "template_kind",
    "templates_for",
]

HISTORY = 10
"""Convention: stated beliefs are counts of the other player's choices in their last ``HISTORY`` games."""


@dataclasses.dataclass(frozen=True)
class Template:
    """One paraphrase of the prompt for a kind of game.

    Attributes:
        name: Identifier stored in the dataset's ``template`` column.
        kind: ``"pair"`` (two-player matrix games) or ``"group"`` (n-player public goods).
        held_out: Reserved for the unseen-paraphrase test split.
        system: The system message.
        setting: Who plays and how ({n}, {n_others} for groups).
        options: Header of the option list (used when options have descriptions), e.g. "Your options:".
        table: Header of the payoff table ({first} is the first-listed label, {n_others} for groups).
        row: A table row: pairs use {own}, {other}, {mine}, {theirs}; groups use {j}, {first}, {cells}.
        cell: For groups, one option's payoff in a row ({own}, {points}).
        belief: The stated belief ({counts}, {history}).
        count: One option's count in ``belief`` ({label}, {k}).
        same_type: The same-type statement.
        question: The question.
        answer_first: Format instruction when the answer comes first ({choices}: each option's decision line).
        reasoning_first: Format instruction when the reasoning comes first ({choices}).
    """

    name: str
    kind: str
    held_out: bool
    system: str
    setting: str
    options: str
    table: str
    row: str
    belief: str
    count: str
    same_type: str
    question: str
    answer_first: str
    reasoning_first: str
    cell: str = ""


_ANSWER_FIRST = "Reply with {choices} on the first line, then explain your choice briefly."
_REASONING_FIRST = "Work out your choice step by step, then end with {choices} on the last line."


def choices_phrase(labels: Sequence[str]) -> str:
    """The decision lines a reply may give, quoted and joined, for a format instruction.

    Example:
        >>> choices_phrase(["A", "B"])
        '"Answer: A" or "Answer: B"'
    """
    return join_phrases([f'"{decision_line(label)}"' for label in labels], "or")


def answer_first_instruction(labels: Sequence[str]) -> str:
    """The default answer-first format instruction (the applications' prompts use it too).

    Example:
        >>> answer_first_instruction(["A", "B"])
        'Reply with "Answer: A" or "Answer: B" on the first line, then explain your choice briefly.'
    """
    return _ANSWER_FIRST.format(choices=choices_phrase(labels))


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            name="pair_plain",
            kind="pair",
            held_out=False,
            system="You are a participant in a decision experiment.",
            setting="You and another player each choose one option. Neither of you sees the other's choice first.",
            options="The options:",
            table="Points for each pair of choices (your choice / their choice: your points, their points):",
            row="{own} / {other}: {mine}, {theirs}",
            belief="In their last {history} games, the other player chose {counts}.",
            count="{label} {k} times",
            same_type="The other player reasons exactly like you.",
            question="Which option do you choose?",
            answer_first=_ANSWER_FIRST,
            reasoning_first=_REASONING_FIRST,
        ),
        Template(
            name="pair_partner",
            kind="pair",
            held_out=False,
            system="You are taking part in a study of decisions.",
            setting="You are paired with a partner. Both of you pick an option at the same time.",
            options="You can pick:",
            table="Payoffs (you pick / partner picks -> you get, partner gets):",
            row="{own} / {other} -> {mine}, {theirs}",
            belief="Your partner's picks over their last {history} rounds: {counts}.",
            count="{label} in {k}",
            same_type="Your partner thinks in exactly the same way as you do.",
            question="What do you pick?",
            answer_first="Begin your reply with {choices}, then give your reasons.",
            reasoning_first="Give your reasons first, and finish with {choices} as the last line.",
        ),
        Template(
            name="pair_table",
            kind="pair",
            held_out=False,
            system="You make choices in games played for points.",
            setting="Two players, you and one other person, choose simultaneously and independently.",
            options="Available choices:",
            table="Point table, written (your choice, their choice): your points, their points",
            row="({own}, {other}): {mine}, {theirs}",
            belief="History: of the other person's last {history} choices, {counts}.",
            count="{k} were {label}",
            same_type="The other person uses exactly the same reasoning as you.",
            question="Make your choice.",
            answer_first=_ANSWER_FIRST,
            reasoning_first=_REASONING_FIRST,
        ),
        Template(
            name="pair_heldout_match",
            kind="pair",
            held_out=True,
            system="You are one of two people in an economics game.",
            setting="This is a one-shot match: you and your counterpart each secretly select an option.",
            options="Options on the table:",
            table="What each combination pays (you select / counterpart selects => your score, their score):",
            row="{own} / {other} => {mine}, {theirs}",
            belief="Your counterpart has played {history} earlier matches, selecting {counts}.",
            count="{label} {k} times",
            same_type="Your counterpart is someone whose reasoning is identical to yours.",
            question="Which option will you select?",
            answer_first="Put {choices} on the first line, then say why.",
            reasoning_first="Reason it through, then put {choices} on the final line.",
        ),
        Template(
            name="pair_heldout_grid",
            kind="pair",
            held_out=True,
            system="You are a player in a simple strategic game.",
            setting="You face a single opponent; each of you makes one choice without knowing the other's.",
            options="Choices:",
            table="Scores by outcome (mine | opponent's, for my choice and the opponent's choice):",
            row="me {own}, opponent {other} -> {mine} | {theirs}",
            belief="Record of the opponent over the last {history} games: {counts}.",
            count="{label} chosen {k} times",
            same_type="Assume the opponent reasons in precisely the way you do.",
            question="What is your choice?",
            answer_first="Write {choices} first, then a short justification.",
            reasoning_first="Justify your choice first, then write {choices} as the last line.",
        ),
        Template(
            name="group_plain",
            kind="group",
            held_out=False,
            system="You are a participant in a decision experiment.",
            setting="You are one of {n} players. Every player chooses one option without seeing the others' choices.",
            options="The options:",
            table="Your points, by your choice and by how many of the other {n_others} players choose {first}:",
            row="{j} of them choose {first}: {cells}",
            cell="{own} gives you {points}",
            belief="In their last {history} games, each of the other players chose {counts}.",
            count="{label} {k} times",
            same_type="The other players reason exactly like you.",
            question="Which option do you choose?",
            answer_first=_ANSWER_FIRST,
            reasoning_first=_REASONING_FIRST,
        ),
        Template(
            name="group_heldout_team",
            kind="group",
            held_out=True,
            system="You are one member of a team in an economics game.",
            setting="Your team has {n} members, you included; each member secretly selects an option.",
            options="Options on the table:",
            table="Your score depending on your option and how many of your {n_others} teammates select {first}:",
            row="if {j} select {first}: {cells}",
            cell="{own} => {points}",
            belief="Over their last {history} games, every teammate selected {counts}.",
            count="{label} {k} times",
            same_type="Your teammates reason in precisely the way you do.",
            question="Which option will you select?",
            answer_first="Put {choices} on the first line, then say why.",
            reasoning_first="Reason it through, then put {choices} on the final line.",
        ),
    )
}

FAMILY_RULES: dict[str, str] = {
    "public_goods": (
        "Each player has {endowment:g} points and decides how many to contribute to a group project, keeping the rest. "
        "Every point contributed is multiplied by {total_return:g} and shared equally among all {n} players."
    ),
    "dictator": (
        "One of you is picked at random, each equally likely, to divide {pie:g} points; the other receives what "
        "the divider gives. Each option is how much you give if you are the divider."
    ),
    "ultimatum": (
        "One of you is picked at random, each equally likely, to propose how much of {pie:g} points to offer the "
        "other, who accepts or rejects; a rejected offer leaves both with 0. Each option is a plan for both roles: "
        "the offer you make as proposer and the smallest offer you accept as responder."
    ),
    "trust": (
        "One of you is picked at random, each equally likely, to be the investor, who has {endowment:g} points and "
        "sends some to the trustee; the amount sent is multiplied by {multiplier:g}, and the trustee returns a share "
        "of it. Each option is a plan for both roles: what you send as investor and the share you return as trustee."
    ),
}
"""Rules of games whose options need words; symmetric 2x2 games are described by their payoff table alone."""

_ROLE_NOTE = "The points below are averages over the two roles."


def template_kind(game: Game) -> str:
    """The template kind a game is rendered with: ``"pair"`` for two-player matrix games, ``"group"`` otherwise.

    Args:
        game: A game from ``econalign.theory.games``.

    Returns:
        ``"pair"`` or ``"group"``.
    """
    if isinstance(game, MatrixGame):
        return "pair"
    if isinstance(game, PublicGoods):
        return "group"
    raise ValueError(f"no prompt template for game family {game.family!r}")


def templates_for(kind: str, *, held_out: bool) -> tuple[str, ...]:
    """Names of the templates of one kind, either the training paraphrases or the held-out ones.

    Args:
        kind: ``"pair"`` or ``"group"``.
        held_out: Whether to return the paraphrases reserved for the unseen-paraphrase test split.

    Returns:
        Template names in definition order.
    """
    names = tuple(t.name for t in TEMPLATES.values() if t.kind == kind and t.held_out == held_out)
    if not names:
        raise ValueError(f"no templates of kind {kind!r} with held_out={held_out}")
    return names


@dataclasses.dataclass(frozen=True)
class RenderedItem:
    """A rendered prompt.

    Attributes:
        messages: Chat messages (``{"role", "content"}``), without the answer.
        options: ``{"label", "action"}`` per option, in presentation order.
    """

    messages: list[dict[str, str]]
    options: list[dict[str, str]]


def format_number(x: float, *, digits: int = 2) -> str:
    """Format a number for prompts and reasoning: rounded to ``digits`` decimals, no trailing zeros.

    Example:
        >>> format_number(2.5), format_number(3.0), format_number(1.0 / 3), format_number(-0.001)
        ('2.5', '3', '0.33', '0')
    """
    text = f"{round(float(x), digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def belief_counts(game: Game, belief: Any, *, history: int = HISTORY) -> tuple[int, ...]:
    """The stated belief as counts of past games, in ``game.actions`` order.

    The counts are out of ``history`` games; a belief that is not a multiple of 1 / ``history`` is stated out of
    the first of 2, 5 or 10 times as many games where it is (0.35 becomes 7 of 20). Callers read the number of
    games as ``sum(counts)``.

    Args:
        game: The game.
        belief: Probability of the first action (two actions) or a probability vector over ``game.actions``.
        history: Preferred number of past games.

    Returns:
        Non-negative integer counts.

    Raises:
        ValueError: If no such number of games states the belief exactly.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> g = PrisonersDilemma(T=5, R=3, P=1, S=0)
        >>> belief_counts(g, 0.3), belief_counts(g, 0.35)
        ((3, 7), (7, 13))
    """
    probabilities = game.strategy(belief)
    for games in (history, 2 * history, 5 * history, 10 * history):
        scaled = probabilities * games
        counts = np.rint(scaled)
        if np.abs(scaled - counts).max() <= 1e-6:
            return tuple(int(c) for c in counts)
    raise ValueError(f"belief {probabilities.tolist()} is not a count out of {history} to {10 * history} games")


def render_item(
    game: Game,
    *,
    belief: Any,
    template: Template | str,
    labels: Sequence[str],
    order: Sequence[int],
    reasoning_first: bool,
    history: int = HISTORY,
) -> RenderedItem:
    """Render one decision problem as chat messages.

    Args:
        game: The game (any family with a template kind, see ``template_kind``).
        belief: Probability that the other player(s) pick the first action (two actions), a probability vector
            over ``game.actions``, or None for the same-type convention.
        template: A ``Template`` or its name; its kind must match the game.
        labels: One capital letter per option, in presentation order.
        order: Action indices in presentation order (a permutation of ``range(game.n_actions)``).
        reasoning_first: Whether the format instruction asks for reasoning before the decision line.
        history: Number of past games the stated belief's counts refer to (see ``belief_counts``).

    Returns:
        The messages (system, user) and the options in presentation order.

    Example:
        >>> from econalign.theory.games import PrisonersDilemma
        >>> item = render_item(PrisonersDilemma(T=5, R=3, P=1, S=0), belief=0.3, template="pair_plain",
        ...                    labels=["A", "B"], order=[1, 0], reasoning_first=False)
        >>> item.options
        [{'label': 'A', 'action': 'D'}, {'label': 'B', 'action': 'C'}]
        >>> print(item.messages[1]["content"].splitlines()[2])
        A / A: 1, 1
    """
    if isinstance(template, str):
        if template not in TEMPLATES:
            known = ", ".join(name for name, t in TEMPLATES.items() if t.kind == template_kind(game))
            raise ValueError(f"unknown template {template!r}; for {game.family}: {known}")
        template = TEMPLATES[template]
    order = [int(a) for a in order]
    if sorted(order) != list(range(game.n_actions)):
        raise ValueError(f"order must be a permutation of the {game.n_actions} action indices, got {order}")
    if len(labels) != game.n_actions or len(set(labels)) != len(labels):
        raise ValueError(f"need {game.n_actions} distinct labels, got {list(labels)}")
    for label in labels:
        decision_line(label)  # validates the label
    if template.kind != template_kind(game):
        raise ValueError(f"template {template.name!r} is for {template.kind} games, not {game.family}")
    label_of = {action: label for label, action in zip(labels, order, strict=True)}
    lines = [_fill(template.setting, game)]
    if game.family in FAMILY_RULES:
        lines.append(_fill(FAMILY_RULES[game.family], game))
    if not isinstance(game, SymmetricGame2x2):
        lines.append(template.options)
        lines += [f"{label}: {game.actions[a]}" for label, a in zip(labels, order, strict=True)]
    lines += _table(game, template, labels, order)
    if belief is None:
        lines.append(template.same_type)
    else:
        counts = belief_counts(game, belief, history=history)
        parts = [template.count.format(label=label_of[a], k=counts[a]) for a in order]
        lines.append(template.belief.format(counts=join_phrases(parts), history=sum(counts)))
    instruction = template.reasoning_first if reasoning_first else template.answer_first
    lines.append(template.question + " " + instruction.format(choices=choices_phrase(labels)))
    messages = [{"role": "system", "content": template.system}, {"role": "user", "content": "\n".join(lines)}]
    options = [{"label": label, "action": game.actions[a]} for label, a in zip(labels, order, strict=True)]
    return RenderedItem(messages=messages, options=options)


def join_phrases(parts: Sequence[str], last: str = "and") -> str:
    """Join phrases as prose: ``"a, b and c"``.

    Example:
        >>> join_phrases(["A", "B", "C"], "or")
        'A, B or C'
    """
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {last} " + parts[-1]


def _fill(text: str, game: Game) -> str:
    fields = dict(game.params())
    if isinstance(game, PublicGoods):
        fields.update(n_others=game.n - 1, total_return=game.mpcr * game.n)
    return text.format(**fields)


def _table(game: Game, template: Template, labels: Sequence[str], order: Sequence[int]) -> list[str]:
    if isinstance(game, MatrixGame):
        # Role games (rules given): the entries are each plan's payoff averaged over the two equally likely roles.
        header = [_ROLE_NOTE, template.table] if game.family in FAMILY_RULES else [template.table]
        rows = [
            template.row.format(
                own=labels[i],
                other=labels[j],
                mine=format_number(game.payoff(game.actions[a], game.actions[b])),
                theirs=format_number(game.payoff(game.actions[b], game.actions[a])),
            )
            for i, a in enumerate(order)
            for j, b in enumerate(order)
        ]
        return [*header, *rows]
    if game.n_actions != 2:
        raise ValueError(
            f"group tables need two actions (contribute all or nothing), {game.family} has {game.n_actions}: "
            "pass n_levels=2"
        )
    first, second = order
    header = template.table.format(first=labels[0], n_others=game.n_players - 1)
    rows = []
    for j in range(game.n_players - 1, -1, -1):
        counts = [0, 0]
        counts[first], counts[second] = j, game.n_players - 1 - j
        cells = [
            template.cell.format(own=labels[i], points=format_number(game.pure_payoff(a, counts)))
            for i, a in enumerate(order)
        ]
        rows.append(template.row.format(j=j, first=labels[0], cells=", ".join(cells)))
    return [header, *rows]
