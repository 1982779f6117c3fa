from __future__ import annotations

import itertools

import numpy as np
import pytest

from econalign.train.data import (
    Example,
    answer_slots,
    bucket_of,
    choose_buckets,
    epoch_microbatches,
    make_batch,
    round_up,
)


def example(length: int, answer: int, seed: int = 0) -> Example:
    tokens = np.random.default_rng(seed).integers(3, 100, length).astype(np.int32)
    return Example(tokens=tokens, prompt_length=length - answer, weights=np.arange(1, answer + 1, dtype=np.float32))


def padded_tokens(lengths, buckets):
    return sum(bucket_of(length, buckets) - length for length in lengths)


@pytest.mark.parametrize("seed", range(5))
def test_choose_buckets_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    lengths = list(rng.integers(5, 200, 40))
    candidates = sorted({round_up(length, 16) for length in lengths})
    for k in (1, 2, 3):
        chosen = choose_buckets(lengths, max_buckets=k)
        assert len(chosen) <= k and max(chosen) == candidates[-1]
        best = min(
            padded_tokens(lengths, [*subset, candidates[-1]])
            for r in range(k)
            for subset in itertools.combinations(candidates[:-1], r)
        )
        assert padded_tokens(lengths, chosen) == best


def test_bucket_of_rejects_long_sequences():
    assert bucket_of(33, [32, 64]) == 64
    with pytest.raises(ValueError, match="exceeds"):
        bucket_of(65, [32, 64])


def test_epoch_microbatches_partition_and_determinism():
    examples = [example(int(n), 3, i) for i, n in enumerate(np.random.default_rng(0).integers(10, 100, 23))]
    buckets = choose_buckets([e.length for e in examples], max_buckets=3)
    batches = epoch_microbatches(examples, buckets=buckets, batch_size=4, seed=7)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(23))
    assert all(len(batch) == 4 for batch in batches[:-1]) and len(batches[-1]) == 3
    assert batches == epoch_microbatches(examples, buckets=buckets, batch_size=4, seed=7)
    assert batches != epoch_microbatches(examples, buckets=buckets, batch_size=4, seed=8)


def test_make_batch_places_next_token_targets():
    examples = [example(12, 4, 1), example(7, 2, 2)]
    batch = make_batch(examples, rows=3, length=16, slots=answer_slots(examples, length=16))
    assert batch["tokens"].shape == (3, 16) and batch["positions"].shape == (3, 8)
    for row, ex in enumerate(examples):
        n = ex.answer_length
        # the head at position p predicts token p + 1, which must be the answer token
        np.testing.assert_array_equal(
            batch["tokens"][row, batch["positions"][row, :n] + 1], ex.tokens[ex.prompt_length :]
        )
        np.testing.assert_array_equal(batch["labels"][row, :n], ex.tokens[ex.prompt_length :])
        np.testing.assert_array_equal(batch["weights"][row, :n], ex.weights)
        assert not batch["weights"][row, n:].any()
    assert not batch["weights"][2].any() and not batch["tokens"][2].any()


def test_make_batch_rejects_overflow():
    with pytest.raises(ValueError):
        make_batch([example(20, 3)], rows=1, length=16, slots=8)
    with pytest.raises(ValueError):
        make_batch([example(8, 3)] * 2, rows=1, length=16, slots=8)


def test_example_checks_weights():
    with pytest.raises(ValueError):
        Example(tokens=np.zeros(5, np.int32), prompt_length=2, weights=np.ones(2, np.float32))
