import pytest
from hypothesis import given
from hypothesis import strategies as st

from econalign.model.buckets import Buckets, chunks, ladder_up, plan_batches

# The ladder built another way: powers of two, and from 16 on, quarter steps within each octave.
LADDER = sorted({2**k for k in range(13)} | {2**k * q // 4 for k in range(4, 12) for q in (5, 6, 7)})


@given(st.integers(1, 2048))
def test_ladder_up_is_the_smallest_rung_at_or_above(n):
    assert ladder_up(n) == min(v for v in LADDER if v >= n)


# Cache lengths: powers of two and three times powers of two, from 16 on (every one of them is a ladder rung).
CACHE_RUNGS = sorted(v for v in LADDER if v >= 16 and any(v in (2**k, 3 * 2**k) for k in range(12)))


@given(st.integers(0, 2048))
def test_cache_up_is_the_smallest_coarse_rung_that_holds_the_prefix_bucket(n):
    buckets = Buckets(min_length=16)
    want = 0 if n == 0 else min(v for v in CACHE_RUNGS if v >= buckets.length_up(n))
    assert buckets.cache_up(n) == want


def test_cache_up_values():
    buckets = Buckets(min_length=16)
    prefixes = (1, 17, 25, 40, 49, 65, 100, 129, 200)
    assert [buckets.cache_up(n) for n in prefixes] == [16, 24, 32, 48, 64, 96, 128, 192, 256]


def test_length_up_has_a_floor():
    buckets = Buckets(min_length=16)
    assert buckets.length_up(3) == 16
    assert buckets.length_up(100) == 112
    assert buckets.length_up(129) == 160


@given(st.integers(0, 100))
def test_chunks_cover_rows_in_order_with_allowed_sizes(n):
    buckets = Buckets(batch_size=16, small_batches=(1, 4))
    batches = chunks(list(range(n)), buckets)
    assert [i for members, _ in batches for i in members] == list(range(n))
    for members, rows in batches:
        assert rows in (1, 4, 16)
        assert len(members) <= rows
        # The smallest allowed size that holds the batch.
        assert rows == min(size for size in (1, 4, 16) if size >= len(members))


def test_small_batches_must_be_smaller_than_a_full_batch():
    with pytest.raises(ValueError, match="small_batches"):
        Buckets(batch_size=8, small_batches=(8,))


def _padded(batches) -> int:
    return sum(rows * length for _, rows, length in batches)


@given(st.lists(st.integers(1, 300), max_size=40))
def test_batch_plan_covers_items_and_pads_no_more_than_fixed_chunks(lengths):
    buckets = Buckets(batch_size=8, small_batches=(1, 4), min_length=16)
    batches = plan_batches(lengths, buckets)
    assert sorted(i for members, _, _ in batches for i in members) == list(range(len(lengths)))
    for members, rows, length in batches:
        assert len(members) <= rows and rows in (1, 4, 8)
        assert max(lengths[i] for i in members) <= length == ladder_up(max(16, *(lengths[i] for i in members)))
    # Never worse than cutting the sorted items into consecutive full batches.
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    naive = [
        (members, rows, buckets.length_up(max(lengths[i] for i in members))) for members, rows in chunks(order, buckets)
    ]
    assert _padded(batches) <= _padded(naive)
