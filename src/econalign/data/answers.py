"""The decision line: how every answer states its choice, and the strict parser that reads it back.

One definition shared by the prompt templates, fine-tuning (its loss weights), evaluation (the scored
continuation) and the hosted clients. It depends on nothing else in the package, so the training and serving
code that needs it does not load the game theory behind the templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["DECISION_PREFIX", "decision_line", "parse_decision"]

DECISION_PREFIX = "Answer: "
"""Start of the decision line; ``decision_line(label)`` appends the option's label."""


def decision_line(label: str) -> str:
    """The decision line: the first line of every answer-first target and the continuation scored per option.

    Every label is one capital letter, so the continuations of two options differ only in their last token and
    share the prefix ``"Answer:"``, which makes their log-probabilities comparable.

    Args:
        label: The option's label, e.g. ``"B"``.

    Returns:
        ``"Answer: B"`` (no trailing newline).

    Example:
        >>> decision_line("B")
        'Answer: B'
    """
    if not re.fullmatch(r"[A-Z]", label):
        raise ValueError(f"an option label is one capital letter, got {label!r}")
    return f"{DECISION_PREFIX}{label}"


_DECISION_RE = re.compile(rf"^{re.escape(DECISION_PREFIX.rstrip())} ?(\S+)$")


def parse_decision(text: str, labels: Sequence[str], *, reasoning_first: bool | None = None) -> str | None:
    r"""Strictly parse the chosen label from a reply; anything ambiguous is a parse failure (None).

    A decision line is a line that, stripped of surrounding white space, is exactly ``decision_line(label)`` (the
    space after the colon may be missing: ``Answer:B``).
    The reply must hold one in the expected place: the first non-empty line (answer first), the last non-empty
    line (reasoning first), or either when ``reasoning_first`` is None. Every decision line in the reply must name
    the same label, and that label must be one of ``labels``; a parse failure is never mapped to an action.

    Args:
        text: The generated reply.
        labels: The item's option labels.
        reasoning_first: Where the decision line must be; None accepts the first or the last non-empty line.

    Returns:
        The chosen label, or None.

    Example:
        >>> parse_decision("Answer: B\nB gives more.", ["A", "B"])
        'B'
        >>> parse_decision("B gives more.\nAnswer: B", ["A", "B"], reasoning_first=False) is None
        True
        >>> parse_decision("Answer: A\nAnswer: B", ["A", "B"]) is None
        True
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    found = [match.group(1) for line in lines if (match := _DECISION_RE.match(line))]
    if len(set(found)) != 1 or found[0] not in labels:
        return None
    first, last = _DECISION_RE.match(lines[0]), _DECISION_RE.match(lines[-1])
    if reasoning_first is None:
        placed = first is not None or last is not None
    else:
        placed = (last if reasoning_first else first) is not None
    return found[0] if placed else None
