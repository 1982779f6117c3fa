"""Bucket shapes for the jitted model calls.

Every new input shape costs seconds of XLA compilation, so sequences, prefix caches and batches are padded
up to a short ladder of lengths: powers of two up to 16, then four rungs per octave (16, 20, 24, 28, 32, 40,
48, 56, 64, 80, ...). Padding wastes at most a fifth of a sequence; a battery touches a handful of shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Buckets:
    """Shape policy of scoring and generation.

    Attributes:
        batch_size: Rows of a full batch.
        small_batches: Smaller batch sizes for the last rows of a call (each is one more compiled shape).
        min_length: Smallest sequence length bucket.
        min_prefix: Shortest shared prompt prefix worth a separate KV pass (tokens).
        max_group: Most prompts sharing one prefix pass (bounds the planning cost).
        group_overhead: Planning cost of one prefix pass, in tokens (favours fewer, larger groups).
    """

    batch_size: int = 16
    small_batches: tuple[int, ...] = (1, 4)
    min_length: int = 16
    min_prefix: int = 32
    max_group: int = 256
    group_overhead: int = 16

    def __post_init__(self) -> None:
        if any(size >= self.batch_size or size < 1 for size in self.small_batches):
            raise ValueError(f"small_batches {self.small_batches} must lie in [1, batch_size={self.batch_size})")

    def length_up(self, n: int) -> int:
        """The smallest ladder length ``>= n`` (and ``>= min_length``)."""
        return ladder_up(max(n, self.min_length))

    def cache_up(self, n: int) -> int:
        """Prefix-cache slots for a batch whose longest prefix holds ``n`` tokens (``0`` stays ``0``).

        The rungs of :meth:`length_up` that are ``2^k`` or ``3 * 2^k`` (16, 24, 32, 48, 64, 96, ...): each value is
        one more compiled shape per suffix shape, while masked cache slots cost only attention, a few percent of
        a forward pass. Never below ``length_up(n)``, so a prefix padded to its own bucket always fits.
        """
        if n <= 0:
            return 0
        value = self.length_up(n)
        while not (_power_of_two(value) or (value % 3 == 0 and _power_of_two(value // 3))):
            value = ladder_up(value + 1)
        return value

    def batch_up(self, rows: int) -> int:
        """Rows to allocate for ``rows`` remaining items (a full batch, or the smallest size that holds them)."""
        return next((size for size in sorted(self.small_batches) if size >= rows), self.batch_size)


def ladder_up(n: int) -> int:
    """Smallest ladder value ``>= n``: powers of two up to 16, then four rungs per octave (20, 24, 28, 32, 40, ...)."""
    value = 1
    while value < 16:
        if value >= n:
            return value
        value *= 2
    while True:
        for step in (value, value * 5 // 4, value * 3 // 2, value * 7 // 4):
            if step >= n:
                return step
        value *= 2


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def chunks(rows: Sequence[int], buckets: Buckets) -> list[tuple[list[int], int]]:
    """Split row indices into batches, each with the number of rows to allocate for it.

    Args:
        rows: Items of one shape class, in processing order.
        buckets: The shape policy.

    Returns:
        ``(members, allocated_rows)`` per batch.
    """
    out = []
    for start in range(0, len(rows), buckets.batch_size):
        members = list(rows[start : start + buckets.batch_size])
        out.append((members, buckets.batch_up(len(members))))
    return out


def plan_batches(lengths: Sequence[int], buckets: Buckets) -> list[tuple[list[int], int, int]]:
    """Cut items into padded batches that waste the fewest token slots.

    Items are sorted by length; dynamic programming over that order picks contiguous batches of at most
    ``batch_size`` items, each costing ``allocated_rows * length_up(longest)`` token slots.

    Args:
        lengths: Sequence length of each item.
        buckets: The shape policy.

    Returns:
        ``(item indices, allocated rows, padded length)`` per batch, shortest first.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0] + [1 << 62] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = buckets.length_up(lengths[order[j - 1]])
        for i in range(max(0, j - buckets.batch_size), j):
            cost = best[i] + buckets.batch_up(j - i) * longest
            if cost < best[j]:
                best[j], cut[j] = cost, i
    batches = []
    j = n
    while j > 0:
        i = cut[j]
        members = order[i:j]
        batches.append((members, buckets.batch_up(len(members)), buckets.length_up(lengths[order[j - 1]])))
        j = i
    return batches[::-1]
