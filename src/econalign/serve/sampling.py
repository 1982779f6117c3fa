"""Choice frequencies from sampled replies, parsed strictly (for endpoints without log-probabilities).

Each reply is parsed by the strict decision parser (``econalign.data.answers.parse_decision``). A reply
that does not parse is a parse failure: it is counted and reported, never mapped to an action.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

Parser = Callable[[str, Sequence[str]], "str | None"]


@dataclasses.dataclass(frozen=True)
class SampledChoices:
    """The outcome of ``n_samples`` sampled replies to one prompt.

    Attributes:
        labels: The option labels, in presentation order.
        counts: int64 array ``[n_labels]``: how many replies parsed to each label.
        n_samples: Replies drawn.
        n_failed: Replies that did not parse (counted, never mapped to a label).
        replies: The raw replies, in sampling order (the audit trail of the frequencies).
    """

    labels: tuple[str, ...]
    counts: np.ndarray
    n_samples: int
    n_failed: int
    replies: tuple[str, ...] = ()

    @property
    def n_parsed(self) -> int:
        """Replies that parsed to a label."""
        return self.n_samples - self.n_failed

    @property
    def frequencies(self) -> np.ndarray:
        """Choice frequencies among the parsed replies, ``[n_labels]`` (all NaN when none parsed)."""
        if self.n_parsed == 0:
            return np.full(len(self.labels), np.nan)
        return self.counts / self.n_parsed

    @property
    def parse_failure_rate(self) -> float:
        """Share of replies that did not parse (NaN when nothing was sampled)."""
        return self.n_failed / self.n_samples if self.n_samples else float("nan")


def default_parser() -> Parser:
    """The project's strict decision parser, ``econalign.data.answers.parse_decision``."""
    from econalign.data.answers import parse_decision

    return parse_decision


def tally(replies: Sequence[str], labels: Sequence[str], parse: Parser) -> SampledChoices:
    """Count the labels chosen in ``replies``.

    Args:
        replies: Sampled reply texts.
        labels: The option labels.
        parse: ``parse(text, labels)`` returning the chosen label, or ``None`` (or raising ``ValueError``)
            when the reply does not state exactly one valid decision.

    Returns:
        A :class:`SampledChoices`.

    Example:
        >>> strict = lambda text, labels: text if text in labels else None
        >>> result = tally(["A", "B", "A", "maybe"], ["A", "B"], strict)
        >>> result.counts.tolist(), result.n_failed, result.frequencies.tolist()
        ([2, 1], 1, [0.6666666666666666, 0.3333333333333333])
    """
    labels = tuple(labels)
    counts = np.zeros(len(labels), dtype=np.int64)
    failed = 0
    for reply in replies:
        try:
            label = parse(reply, labels)
        except ValueError:
            label = None
        if label is None or label not in labels:
            failed += 1
        else:
            counts[labels.index(label)] += 1
    return SampledChoices(labels, counts, len(replies), failed, tuple(replies))
