"""Token-level training data: examples, length buckets, the epoch schedule, fixed-shape batches.

An :class:`Example` is a tokenised chat (prompt, then the assistant's answer) with a loss weight per answer
token. Examples are grouped into a few *buckets* of fixed sequence length ``T`` (chosen from the data by
:func:`choose_buckets` to minimise padding), and each microbatch holds examples of one bucket only, so the
jitted step compiles once per bucket and pays for little padding. Each batch also fixes ``A``, the number of
*answer slots*: the positions where the LM head runs (one per answer token, padded to a multiple of 8), so
the ``[B, T, V]`` logits over the prompt are never computed.

The schedule (:func:`epoch_microbatches`) is a pure function of the examples, the batch size and a seed:
the same seed gives the same order on every run, which makes resumed runs identical to uninterrupted ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

PAD_ID = 0
_SLOT_MULTIPLE = 8


@dataclasses.dataclass(frozen=True)
class Example:
    """One tokenised training or validation sequence.

    Attributes:
        tokens: ``[L]`` int32: prompt tokens, then answer tokens.
        prompt_length: How many of ``tokens`` belong to the prompt (>= 1).
        weights: ``[L - prompt_length]`` float32: the loss weight of predicting each answer token.
        choice_slot: Index into the answer tokens whose prediction decides the item (the option label), or -1.
        option_ids: ``[K]`` int32: the token of each option at ``choice_slot`` (empty when not a choice item).
        answer: Index of the optimal option in ``option_ids``, or -1.
    """

    tokens: np.ndarray
    prompt_length: int
    weights: np.ndarray
    choice_slot: int = -1
    option_ids: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))
    answer: int = -1

    def __post_init__(self) -> None:
        if not 1 <= self.prompt_length <= len(self.tokens):
            raise ValueError(f"prompt_length {self.prompt_length} is outside [1, {len(self.tokens)}]")
        if len(self.weights) != len(self.tokens) - self.prompt_length:
            raise ValueError(f"{len(self.weights)} weights for {len(self.tokens) - self.prompt_length} answer tokens")

    @property
    def length(self) -> int:
        """Number of tokens."""
        return len(self.tokens)

    @property
    def answer_length(self) -> int:
        """Number of answer tokens (loss positions)."""
        return len(self.tokens) - self.prompt_length


def round_up(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``value``.

    Example:
        >>> round_up(130, 16)
        144
    """
    return -(-int(value) // multiple) * multiple


def choose_buckets(lengths: Sequence[int], *, max_buckets: int, multiple: int = 16) -> list[int]:
    """Choose at most ``max_buckets`` sequence lengths that minimise the padded tokens of ``lengths``.

    Each length is served by the smallest bucket that holds it; bucket lengths are multiples of ``multiple``.
    The choice is exact (dynamic programming over the distinct rounded lengths).

    Args:
        lengths: Token counts of the examples.
        max_buckets: Upper bound on the number of buckets (compilations).
        multiple: Bucket lengths are multiples of this.

    Returns:
        Sorted bucket lengths; the largest holds the longest example.

    Example:
        >>> choose_buckets([10, 20, 100, 110], max_buckets=2)
        [32, 112]
    """
    if not lengths:
        raise ValueError("no examples to bucket")
    rounded, counts = np.unique([round_up(length, multiple) for length in lengths], return_counts=True)
    n, k = len(rounded), min(max_buckets, len(rounded))
    # cost[i][j]: padded tokens when rounded[i..j] all go to bucket rounded[j].
    cum_count = np.concatenate([[0], np.cumsum(counts)])
    cum_tokens = np.concatenate([[0], np.cumsum(counts * rounded)])

    def cost(i: int, j: int) -> float:
        return float(rounded[j] * (cum_count[j + 1] - cum_count[i]) - (cum_tokens[j + 1] - cum_tokens[i]))

    best = np.full((k + 1, n), np.inf)
    choice = np.zeros((k + 1, n), dtype=int)
    for j in range(n):
        best[1][j] = cost(0, j)
    for b in range(2, k + 1):
        for j in range(n):
            for i in range(1, j + 1):
                candidate = best[b - 1][i - 1] + cost(i, j)
                if candidate < best[b][j]:
                    best[b][j], choice[b][j] = candidate, i
    b = int(np.argmin(best[1:, n - 1])) + 1
    buckets, j = [], n - 1
    while b >= 1 and j >= 0:
        buckets.append(int(rounded[j]))
        j = choice[b][j] - 1 if b > 1 else -1
        b -= 1
    return sorted(buckets)


def bucket_of(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``length`` tokens.

    Raises:
        ValueError: If ``length`` exceeds the largest bucket.
    """
    for bucket in buckets:
        if length <= bucket:
            return bucket
    raise ValueError(f"a sequence of {length} tokens exceeds the largest bucket {max(buckets)}")


def epoch_microbatches(
    examples: Sequence[Example], *, buckets: Sequence[int], batch_size: int, seed: int
) -> list[list[int]]:
    """Split one epoch into microbatches of example indices, each from a single bucket.

    Examples are shuffled within their bucket and cut into groups of ``batch_size``; the leftovers of all
    buckets are pooled, sorted by length and cut again (each group then uses its longest member's bucket).
    The groups are finally shuffled. Only the last group may be short; the batch builder pads it with
    zero-weight rows.

    Args:
        examples: The epoch's examples.
        buckets: Bucket lengths (from :func:`choose_buckets`).
        batch_size: Rows per microbatch.
        seed: Seeds the order (``numpy.random.default_rng``).

    Returns:
        A list of microbatches, each a list of example indices.
    """
    rng = np.random.default_rng(seed)
    by_bucket: dict[int, list[int]] = {}
    for index, example in enumerate(examples):
        by_bucket.setdefault(bucket_of(example.length, buckets), []).append(index)
    groups: list[list[int]] = []
    leftovers: list[int] = []
    for bucket in sorted(by_bucket):
        indices = [by_bucket[bucket][i] for i in rng.permutation(len(by_bucket[bucket]))]
        full = len(indices) - len(indices) % batch_size
        groups += [indices[i : i + batch_size] for i in range(0, full, batch_size)]
        leftovers += indices[full:]
    leftovers.sort(key=lambda i: (examples[i].length, i))
    tail = [leftovers[i : i + batch_size] for i in range(0, len(leftovers), batch_size)]
    # A short group goes last in its epoch, so that every microbatch of an epoch but its last is full.
    short = [group for group in tail if len(group) < batch_size]
    groups += [group for group in tail if len(group) == batch_size]
    order = rng.permutation(len(groups))
    return [groups[i] for i in order] + short


def answer_slots(examples: Sequence[Example], *, length: int) -> int:
    """Answer slots ``A`` for a batch of bucket ``length``: the longest answer, rounded up to a multiple of 8."""
    longest = max((example.answer_length for example in examples), default=1)
    return min(round_up(max(longest, 1), _SLOT_MULTIPLE), length)


def bucket_slots(examples: Sequence[Example], buckets: Sequence[int]) -> dict[int, int]:
    """Answer slots of each bucket, enough for every example that fits it, not only those of that bucket.

    A batch takes the bucket of its longest member, and batches of leftovers mix buckets: a short example with a
    long answer can share a batch with longer examples whose answers are short. Each bucket's count is therefore
    a running maximum over the smaller buckets (one count per bucket keeps one compiled program per bucket).

    Example:
        >>> short_long_answer = Example(tokens=[1] * 40, prompt_length=10, weights=[1.0] * 30)
        >>> long_short_answer = Example(tokens=[1] * 100, prompt_length=95, weights=[1.0] * 5)
        >>> bucket_slots([short_long_answer, long_short_answer], [48, 112])
        {48: 32, 112: 32}
    """
    slots: dict[int, int] = {}
    running = 1
    for bucket in sorted(buckets):
        fitting = [example for example in examples if example.length <= bucket]
        running = max(running, answer_slots(fitting, length=bucket))
        slots[bucket] = running
    return slots


def make_batch(
    examples: Sequence[Example], *, rows: int, length: int, slots: int, num_options: int = 0
) -> dict[str, np.ndarray]:
    """Assemble a fixed-shape batch (right padding; padding rows have zero weight).

    Args:
        examples: At most ``rows`` examples, each at most ``length`` tokens with at most ``slots`` answer tokens.
        rows: Batch rows ``B``.
        length: Sequence length ``T`` (the bucket).
        slots: Answer slots ``A``.
        num_options: ``K``, columns of ``option_ids`` (0 for training batches).

    Returns:
        ``tokens`` ``[B, T]`` int32; ``positions`` ``[B, A]`` int32 (where the LM head runs: the token before
        each answer token); ``labels`` ``[B, A]`` int32; ``weights`` ``[B, A]`` float32; and with
        ``num_options``: ``choice_slot`` ``[B]`` int32, ``option_ids`` ``[B, K]`` int32, ``option_mask``
        ``[B, K]`` bool, ``answer`` ``[B]`` int32.
    """
    if len(examples) > rows:
        raise ValueError(f"{len(examples)} examples do not fit {rows} rows")
    tokens = np.full((rows, length), PAD_ID, np.int32)
    positions = np.zeros((rows, slots), np.int32)
    labels = np.full((rows, slots), PAD_ID, np.int32)
    weights = np.zeros((rows, slots), np.float32)
    batch = {"tokens": tokens, "positions": positions, "labels": labels, "weights": weights}
    if num_options:
        batch |= {
            "choice_slot": np.zeros(rows, np.int32),
            "option_ids": np.zeros((rows, num_options), np.int32),
            "option_mask": np.zeros((rows, num_options), bool),
            "answer": np.full(rows, -1, np.int32),
        }
    for row, example in enumerate(examples):
        if example.length > length or example.answer_length > slots:
            raise ValueError(f"an example of {example.length} tokens ({example.answer_length} answer) exceeds {length}")
        tokens[row, : example.length] = example.tokens
        n = example.answer_length
        positions[row, :n] = np.arange(example.prompt_length - 1, example.length - 1)
        labels[row, :n] = example.tokens[example.prompt_length :]
        weights[row, :n] = example.weights
        if num_options and example.choice_slot >= 0:
            k = len(example.option_ids)
            batch["choice_slot"][row] = example.choice_slot
            batch["option_ids"][row, :k] = example.option_ids
            batch["option_mask"][row, :k] = True
            batch["answer"][row] = example.answer
    return batch
