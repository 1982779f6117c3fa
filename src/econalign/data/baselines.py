"""What simple rules score on a dataset split, and how the answers are balanced.

A model's agreement with the theory means little unless it beats rules that ignore part of the prompt:
always the first action (C), always the second (D), always the first-listed option, always the alphabetically first
label ("always A"), the theory evaluated at a uniform belief (ignoring the stated belief), and the most common
answer at each belief within the split (ignoring the payoffs; in-sample, so an upper bound for such a rule).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

import polars as pl

from econalign.theory.games import game_from_params

__all__ = ["RULES", "rule_choices", "split_baselines", "split_statistics"]

RULES: dict[str, str] = {
    "first_action": "always the first action (C in 2x2 games)",
    "second_action": "always the second action (D in 2x2 games)",
    "first_listed": "always the first-listed option",
    "label_a": "always the alphabetically first label",
    "theory_ignoring_belief": "the agent's theory at a uniform belief (ignores the stated belief)",
    "payoff_blind": "the most common answer per family and belief in this split (ignores the payoffs; in-sample)",
}
"""Baseline rules and what they do."""


@functools.lru_cache(maxsize=4096)
def _actions(family: str, params: str) -> tuple[str, ...]:
    return game_from_params(family, params).actions


def majority_answers(votes: Iterable[tuple[Hashable, str]]) -> dict[Any, str]:
    """The payoff-blind rule's answers: per key (e.g. family and stated belief), the most common answer.

    Ties go to the alphabetically first answer, so the rule does not depend on the order of the votes.

    Example:
        >>> majority_answers([("k", "D"), ("k", "C"), ("k", "D"), ("j", "D"), ("j", "C")])
        {'k': 'D', 'j': 'C'}
    """
    counts: dict[Any, Counter] = {}
    for key, answer in votes:
        counts.setdefault(key, Counter())[answer] += 1
    return {key: max(sorted(counter), key=counter.__getitem__) for key, counter in counts.items()}


def rule_choices(frame: pl.DataFrame) -> dict[str, list[str | None]]:
    """The action each baseline rule picks on every row of a dataset split.

    Args:
        frame: A split as written by ``synthesize`` (columns family, params, options, belief_counts,
            optimal_action, theory_ignoring_belief).

    Returns:
        Rule name (``RULES``) -> one action per row (None where a rule has no pick, e.g. payoff_blind on a
        same-type item).
    """
    rows = frame.select("family", "params", "options", "belief_counts", "optimal_action", "theory_ignoring_belief")
    choices: dict[str, list[str | None]] = {rule: [] for rule in RULES}
    blind = majority_answers(
        ((family, counts), optimal)
        for family, _, _, counts, optimal, _ in rows.iter_rows()
        if counts is not None and optimal is not None
    )
    for family, params, options, counts, _, ignoring in rows.iter_rows():
        actions = _actions(family, params)
        listed = json.loads(options)
        choices["first_action"].append(actions[0])
        choices["second_action"].append(actions[1])
        choices["first_listed"].append(listed[0]["action"])
        choices["label_a"].append(min(listed, key=lambda option: option["label"])["action"])
        choices["theory_ignoring_belief"].append(ignoring)
        choices["payoff_blind"].append(blind.get((family, counts)) if counts is not None else None)
    return choices


def split_baselines(frame: pl.DataFrame) -> dict[str, Any]:
    """Accuracy of every baseline rule on the rows that have a theory answer, overall and per family.

    Args:
        frame: One agent's split.

    Returns:
        ``{"n_scored": int, "overall": {rule: accuracy}, "by_family": {family: {rule: accuracy}}}``; accuracies
        are None when no row has an answer.
    """
    choices = rule_choices(frame)
    optimal = frame["optimal_action"].to_list()
    families = frame["family"].to_list()

    def accuracy(rows: list[int]) -> dict[str, float | None]:
        scored = [i for i in rows if optimal[i] is not None]
        return {
            rule: (round(sum(picks[i] == optimal[i] for i in scored) / len(scored), 4) if scored else None)
            for rule, picks in choices.items()
        }

    everything = list(range(frame.height))
    return {
        "n_scored": sum(o is not None for o in optimal),
        "overall": accuracy(everything),
        "by_family": {f: accuracy([i for i in everything if families[i] == f]) for f in sorted(set(families))},
    }


def split_statistics(frame: pl.DataFrame) -> dict[str, Any]:
    """Balance of one agent's split: answer shares and how often the answer flips with belief and payoffs.

    Args:
        frame: One agent's split.

    Returns:
        Per family: ``n``, ``n_scored``, ``first_action`` (share of answers that are the first action),
        ``listed_first`` (share of answers shown first), ``same_type`` (share of same-type items),
        ``flips_with_belief`` (share of stated-belief answers that differ from the theory at a uniform belief) and
        ``flips_with_payoffs`` (share that differ from the most common answer at the same belief).
    """
    choices = rule_choices(frame)
    rows = frame.select("family", "params", "options", "belief_counts", "optimal_action").to_dicts()
    for i, row in enumerate(rows):
        row["ignoring"], row["blind"] = choices["theory_ignoring_belief"][i], choices["payoff_blind"][i]

    def share(values: list[bool]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    out: dict[str, Any] = {}
    for family in sorted({row["family"] for row in rows}):
        mine = [row for row in rows if row["family"] == family]
        scored = [row for row in mine if row["optimal_action"] is not None]
        stated = [row for row in scored if row["belief_counts"] is not None]
        out[family] = {
            "n": len(mine),
            "n_scored": len(scored),
            "same_type": share([row["belief_counts"] is None for row in mine]),
            "first_action": share([r["optimal_action"] == _actions(family, r["params"])[0] for r in scored]),
            "listed_first": share([json.loads(r["options"])[0]["action"] == r["optimal_action"] for r in scored]),
            "flips_with_belief": share([r["ignoring"] != r["optimal_action"] for r in stated]),
            "flips_with_payoffs": share([r["blind"] != r["optimal_action"] for r in stated]),
        }
    return out
