"""Where an aligned agent stands between the theories and against the reference rules, split by split.

Two questions of the study, asked of every aligned agent on every test split:

* ``own_versus_other``: does the agent sit nearer its own theory than every other theory of the battery, both in how
  often it agrees with each and in its cooperation level beside each exact theory's?
* ``versus_rules``: does it agree with its theory more often than every reference rule (a rule that needs no model:
  the theory ignoring the stated belief, always the same action, the first-listed option, a uniform draw), paired by
  item on the same battery?

Both read what rule ``evaluate`` and rule ``evaluate_reference`` wrote; ``econalign report-games --summary`` puts
them in ``summary.json``, where the default targets check them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from econalign.evaluate.metrics import lookup, paired_gain

__all__ = ["EXACT_PREFIX", "every_split", "own_versus_other", "reference_rules", "versus_rules"]

EXACT_PREFIX = "exact_"
"""Reference agents named ``exact_<theory>`` play a theory itself: the yardstick, not a rule to beat."""


def reference_rules(references: Sequence[str]) -> list[str]:
    """The reference agents an aligned agent has to beat: every one but the exact theories.

    Example:
        >>> reference_rules(["exact_economicus", "random", "ignoring_belief_economicus"])
        ['random', 'ignoring_belief_economicus']
    """
    return [name for name in references if not name.startswith(EXACT_PREFIX)]


def own_versus_other(
    agent_metrics: Mapping[str, Any], reference_metrics: Mapping[str, Mapping[str, Any]], split: str
) -> dict[str, Any]:
    """The agent's agreement with each theory and its cooperation level beside each exact theory's, on one split.

    Args:
        agent_metrics: The agent's ``metrics.json`` (with ``own_theory``).
        reference_metrics: Reference agent name -> its metrics (``exact_<theory>`` for every theory).
        split: A split of both.

    Returns:
        ``{"agreement": {theory: rate}, "cooperation": {"agent": level, theory: level}, "nearer_own": {"agreement",
        "cooperation", "both"}}``, point estimates: the share of items where the agent's choice is the theory's
        answer, and the cooperation level of the argmax choice over the split's items (the agent's beside each exact
        theory's on the same items). ``agreement`` holds when the agent agrees with its own theory more often than
        with every other; ``cooperation`` when its level is nearer its own theory's than every other's. A value the
        split lacks (a theory that answers none of its items) makes the comparison None: not measured.
    """
    own = agent_metrics["own_theory"]
    theories = list(agent_metrics["theories"])
    if own not in theories:
        raise ValueError(f"agent's own theory {own!r} is not among its metrics' theories {theories}")
    agreement = {t: _estimate(agent_metrics, "agreement", split, t, "all", "choice") for t in theories}
    levels = {"agent": _estimate(agent_metrics, "cooperation", split, "all", "choice")}
    for theory in theories:
        exact = reference_metrics.get(f"{EXACT_PREFIX}{theory}")
        if exact is None:
            raise KeyError(f"no reference agent {EXACT_PREFIX}{theory}: score the reference rules (evaluate_reference)")
        levels[theory] = _estimate(exact, "cooperation", split, "all", "choice")
    others = [t for t in theories if t != own]
    nearer_agreement = _all_hold(
        None if agreement[own] is None or agreement[t] is None else agreement[own] > agreement[t] for t in others
    )
    nearer_cooperation = _all_hold(
        None
        if None in (levels["agent"], levels[own], levels[t])
        else abs(levels["agent"] - levels[own]) < abs(levels["agent"] - levels[t])
        for t in others
    )
    return {
        "agreement": agreement,
        "cooperation": levels,
        "nearer_own": {
            "agreement": nearer_agreement,
            "cooperation": nearer_cooperation,
            "both": _all_hold([nearer_agreement, nearer_cooperation]),
        },
    }


def versus_rules(
    items: pl.DataFrame, agent: str, rules: Sequence[str], theory: str, *, confidence: float
) -> dict[str, Any]:
    """The agent's agreement with its theory minus each rule's, paired by item and clustered by decision problem.

    Args:
        items: Per-item rows of the agent and of every rule on the same items (``agent``, ``id``, ``game_key``,
            ``agree_<theory>``), one split or a pool of splits.
        agent: The aligned agent.
        rules: Reference rules to compare with (``reference_rules``).
        theory: The agent's own theory.
        confidence: Two-sided coverage of each interval.

    Returns:
        ``{"rules": {rule: paired_gain}, "closest_rule", "beats_every_rule"}``: ``closest_rule`` is the rule with
        the smallest gain (the strongest rule on these items); ``beats_every_rule`` holds when every gain's interval
        lies above 0 (None when a rule has no interval). Asking every interval to clear 0 is an intersection-union
        test of "better than each rule": its error rate stays at 1 - confidence with no correction for the number of
        rules (Berger 1982, Technometrics 24).
    """
    mine = items.filter(pl.col("agent") == agent)
    gains = {
        rule: paired_gain(
            mine, items.filter(pl.col("agent") == rule), theory, confidence=confidence, cluster="game_key"
        )
        for rule in rules
    }
    estimates = {rule: gain["estimate"] for rule, gain in gains.items() if gain["estimate"] is not None}
    return {
        "rules": gains,
        "closest_rule": min(estimates, key=estimates.__getitem__) if estimates else None,
        "beats_every_rule": _all_hold(gain["significant"] for gain in gains.values()) if gains else None,
    }


def every_split(checks: Sequence[bool | None]) -> bool | None:
    """Whether a check holds on every split: false when it fails on one, None when one is not measured.

    Example:
        >>> every_split([True, True]), every_split([True, None]), every_split([None, False])
        (True, None, False)
    """
    return _all_hold(checks)


def _all_hold(checks: Any) -> bool | None:
    values = list(checks)
    if any(value is False for value in values):
        return False
    if any(value is None for value in values):
        return None
    return True


def _estimate(metrics: Mapping[str, Any], *path: str) -> float | None:
    estimate = lookup(metrics, *path, "estimate")
    return None if estimate is None else float(estimate)
