"""Option log-probabilities from the token log-probabilities an OpenAI-compatible endpoint returns.

Chat-completion endpoints do not score a given continuation; they report, for each generated token, its
log-probability and the ``top_logprobs`` most likely alternatives at that position. For options that share
a common prefix and then differ in their first character (decision lines ``decision_line(label)`` that
differ only in the label), one greedy reply holds what is needed:

1. ``P`` is the longest common prefix of the options and ``r_k`` the remainder of option ``k``. The first
   characters of the ``r_k`` must be pairwise distinct, so one token after ``P`` identifies the option.
2. The reply's tokens are searched for ``P`` starting at a token boundary (at the first token unless a
   preamble is allowed). Tokens ``t_s .. t_{j-1}`` lie inside ``P``; token ``j`` crosses its end, and
   ``lead`` is the part of ``P`` that token ``j`` still covers (often ``""`` or ``" "``).
3. At position ``j`` the candidates are the listed alternatives plus the generated token. A candidate
   ``c`` votes for option ``k`` when ``c`` starts with ``lead`` and the rest ``c[len(lead):]`` is non-empty
   and is a prefix of ``r_k`` or starts with ``r_k``. Candidates voting for the same option are combined
   with logsumexp (they are disjoint next-token events).
4. ``log p(option k) = sum_{i=s}^{j-1} logprob(t_i) + logsumexp(votes for k)``. Tokens of ``r_k`` after the
   first distinguishing token are not scored (taken as probability one): exact when the option ends within
   that token, as a single-token label at the end of a decision line does.
5. An option with no vote is *absent*: it gets the prefix log-prob plus the floor
   ``max(logprob_floor, min(lowest listed log-prob, log(unlisted mass)))``, an upper bound of its true
   value (floored), and is counted in :attr:`OptionScore.absent`.

A reply that never reaches the end of ``P`` (another answer format, or ``max_tokens`` too small) cannot be
scored: every option gets NaN and :attr:`OptionScore.unscorable` says why. Nothing is ever guessed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_LOGPROB_FLOOR = -30.0


@dataclasses.dataclass(frozen=True)
class OptionScore:
    """The log-probabilities derived for one prompt's options.

    Attributes:
        logprobs: float64 array ``[n_options]``; all NaN when unscorable.
        absent: How many options were absent from the listed alternatives (given the floor).
        preamble_tokens: Generated tokens before the common prefix (0 when the reply starts with it).
        unscorable: Why the reply could not be scored, or ``None``.
    """

    logprobs: np.ndarray
    absent: int = 0
    preamble_tokens: int = 0
    unscorable: str | None = None


def split_options(options: Sequence[str]) -> tuple[str, list[str]]:
    """Split options into their longest common prefix and the remainders.

    Raises:
        ValueError: If fewer than two options are given or the remainders' first characters are not
            pairwise distinct (one token after the prefix could not identify the option).

    Example:
        >>> split_options(["Decision: A", "Decision: B"])
        ('Decision: ', ['A', 'B'])
    """
    if len(options) < 2:
        raise ValueError(f"need at least two options to score, got {list(options)!r}")
    prefix = _common_prefix(options)
    rests = [option[len(prefix) :] for option in options]
    firsts = [rest[:1] for rest in rests]
    if "" in firsts or len(set(firsts)) != len(firsts):
        raise ValueError(
            f"options {list(options)!r} are not distinguishable by one token after their common prefix "
            f"{prefix!r}: score them through the continuation extension or by sampling"
        )
    return prefix, rests


def score_options(
    content: Sequence[Mapping[str, Any]],
    options: Sequence[str],
    *,
    allow_preamble: bool = True,
    logprob_floor: float = DEFAULT_LOGPROB_FLOOR,
) -> OptionScore:
    """Derive option log-probabilities from a reply's token log-probabilities (see the module docstring).

    Args:
        content: ``choices[0].logprobs.content`` of a chat completion: dicts with ``token``, ``logprob`` and
            ``top_logprobs`` (a list of ``{"token", "logprob"}``; may be empty).
        options: The option strings (continuations of the prompt).
        allow_preamble: Accept generated tokens before the common prefix (the log-probs are then
            conditional on that preamble, counted in ``preamble_tokens``).
        logprob_floor: Lowest log-prob given to an absent option.

    Returns:
        An :class:`OptionScore`.

    Example:
        >>> content = [
        ...     {"token": "Decision", "logprob": -0.1, "top_logprobs": []},
        ...     {"token": ":", "logprob": 0.0, "top_logprobs": []},
        ...     {"token": " A", "logprob": -0.5, "top_logprobs": [{"token": " A", "logprob": -0.5},
        ...                                                      {"token": " B", "logprob": -1.0}]},
        ... ]
        >>> score_options(content, ["Decision: A", "Decision: B"]).logprobs.round(3).tolist()
        [-0.6, -1.1]
    """
    prefix, rests = split_options(options)
    tokens = [str(item["token"]) for item in content]
    nan = np.full(len(options), np.nan)
    starts = range(len(tokens)) if allow_preamble else range(min(1, len(tokens)))
    for start in starts:
        found = _cross_prefix(tokens, start, prefix)
        if found is None:
            continue
        if found == "truncated":
            return OptionScore(nan, preamble_tokens=start, unscorable="reply ended inside the common prefix")
        crossing, lead = found
        prefix_logprob = math.fsum(float(content[i]["logprob"]) for i in range(start, crossing))
        logprobs, absent = _vote(content[crossing], lead, rests, logprob_floor)
        return OptionScore(prefix_logprob + logprobs, absent=absent, preamble_tokens=start)
    return OptionScore(nan, unscorable=f"the reply does not contain the common prefix {prefix!r} at a token boundary")


def _cross_prefix(tokens: Sequence[str], start: int, prefix: str) -> tuple[int, str] | str | None:
    # Return (index of the token crossing the end of prefix, part of prefix inside it), "truncated" when
    # the reply ends inside the prefix, or None when the text from `start` does not follow the prefix.
    consumed = 0
    for index in range(start, len(tokens)):
        token = tokens[index]
        remaining = prefix[consumed:]
        if len(token) > len(remaining):
            return (index, remaining) if token.startswith(remaining) else None
        if not remaining.startswith(token):
            return None
        consumed += len(token)
    return "truncated"


def _vote(position: Mapping[str, Any], lead: str, rests: Sequence[str], floor: float) -> tuple[np.ndarray, int]:
    candidates = {str(alt["token"]): float(alt["logprob"]) for alt in position.get("top_logprobs") or []}
    candidates.setdefault(str(position["token"]), float(position["logprob"]))
    votes: list[list[float]] = [[] for _ in rests]
    for token, logprob in candidates.items():
        if not token.startswith(lead) or len(token) == len(lead):
            continue
        rest = token[len(lead) :]
        matches = [k for k, option in enumerate(rests) if option.startswith(rest) or rest.startswith(option)]
        if len(matches) == 1:
            votes[matches[0]].append(logprob)
    listed = list(candidates.values())
    unlisted_mass = 1.0 - math.fsum(math.exp(value) for value in listed)
    bound = min(min(listed), math.log(unlisted_mass)) if unlisted_mass > 0 else -math.inf
    absent_value = max(floor, bound)
    out = np.array([_logsumexp(v) if v else absent_value for v in votes], dtype=np.float64)
    return out, sum(1 for v in votes if not v)


def _common_prefix(texts: Sequence[str]) -> str:
    shortest = min(texts, key=len)
    for index, char in enumerate(shortest):
        if any(text[index] != char for text in texts):
            return shortest[:index]
    return shortest


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(math.fsum(math.exp(value - top) for value in values))
