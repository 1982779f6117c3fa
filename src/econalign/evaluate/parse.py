"""Strict reading of a generated reply's decision (reasoning-first mode).

The format is the dataset's own: ``econalign.data.answers.parse_decision`` is the single definition of what a
valid decision line is. This module only maps the parsed label to the option's position; anything that does not
parse is None, a parse failure, which metrics count on its own and never map to an action.
"""

from __future__ import annotations

from collections.abc import Sequence

from econalign.data.answers import parse_decision

__all__ = ["parse_choice"]


def parse_choice(text: str | None, labels: Sequence[str], *, reasoning_first: bool | None = None) -> int | None:
    r"""Position of the option a reply chooses, or None when the reply does not parse strictly.

    Args:
        text: The generated reply (None counts as a failure).
        labels: The item's option labels in presentation order.
        reasoning_first: Where the decision line must stand (see ``parse_decision``); None accepts the first or
            the last non-empty line.

    Returns:
        Index into ``labels``, or None.

    Example:
        >>> parse_choice("I compare the payoffs.\nAnswer: B", ["A", "B"])
        1
        >>> parse_choice("Answer: C", ["A", "B"]) is None
        True
    """
    if text is None:
        return None
    label = parse_decision(text, list(labels), reasoning_first=reasoning_first)
    return None if label is None else list(labels).index(label)
