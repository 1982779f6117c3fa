"""Option scoring: prefix-group planning, equality with a plain per-option forward, no recompilation."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import forward, random_model
from hypothesis import given, settings
from hypothesis import strategies as st

from econalign.model.buckets import Buckets
from econalign.model.llama import LlamaConfig
from econalign.model.scoring import TRACE_COUNTS, layout, plan_prefix_groups, score_continuations

BUCKETS = Buckets(batch_size=4, small_batches=(1,), min_prefix=8, min_length=8, group_overhead=4)


@pytest.fixture(scope="module")
def model():
    return random_model(LlamaConfig(2, 64, 32, 64, 4, 2, 8, attention_bias=True, tie_word_embeddings=True), seed=1)


def naive_scores(model, prompts, options) -> list[np.ndarray]:
    """One full forward per (prompt, option): the definition of the summed option log-probability."""
    out = []
    for prompt, opts in zip(prompts, options, strict=True):
        row = []
        for option in opts:
            # Right padding to one length cannot change earlier positions of a causal model: one compilation.
            sequence = list(prompt) + list(option)
            logits = forward(model, jnp.asarray([sequence + [0] * (64 - len(sequence))])).logits[0]
            logprobs = np.asarray(jax.nn.log_softmax(logits), dtype=np.float64)
            row.append(sum(logprobs[len(prompt) - 1 + k, t] for k, t in enumerate(option)))
        out.append(np.array(row))
    return out


def _prompts(seed: int, token_seed: int | None = None):
    """Prompts from two shared stems, plus edge cases; ``token_seed`` redraws the tail and option tokens only."""
    rng = np.random.default_rng(seed)
    tokens = np.random.default_rng(seed if token_seed is None else token_seed)
    stems = [list(rng.integers(3, 64, 20)), list(rng.integers(3, 64, 13))]
    tails = [list(tokens.integers(3, 64, n)) for n in rng.integers(1, 9, 9)]
    prompts = [stems[i % 2] + tail for i, tail in enumerate(tails)]
    prompts += [stems[0][:5], [7], stems[0] + tails[0] + [9, 9]]  # short, one token, extends another prompt
    sizes = [rng.integers(1, 4, rng.integers(1, 4)) for _ in prompts]
    options = [[list(tokens.integers(3, 64, n)) for n in row] for row in sizes]
    return prompts, options


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_scores_equal_one_forward_per_option(model, prefix_cache):
    prompts, options = _prompts(0)
    got = score_continuations(model, prompts, options, buckets=BUCKETS, prefix_cache=prefix_cache)
    for g, want in zip(got, naive_scores(model, prompts, options), strict=True):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, want, atol=2e-4)


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_windowed_scores_equal_one_forward_per_option(prefix_cache):
    # Mistral's sliding window, shorter than the shared stems: prefix caches and option tries must window their keys
    # as the plain forward (checked against HF in test_llama) does.
    config = LlamaConfig(2, 64, 32, 64, 4, 2, 8, attention_bias=True, tie_word_embeddings=True)
    windowed = random_model(dataclasses.replace(config, sliding_window=5), seed=1)
    prompts, options = _prompts(0)
    got = score_continuations(windowed, prompts, options, buckets=BUCKETS, prefix_cache=prefix_cache)
    for g, want in zip(got, naive_scores(windowed, prompts, options), strict=True):
        np.testing.assert_allclose(g, want, atol=2e-4)
    unwindowed = naive_scores(random_model(config, seed=1), prompts, options)
    assert max(np.abs(g - u).max() for g, u in zip(got, unwindowed, strict=True)) > 1e-3  # the window mattered


def test_warm_scoring_does_not_recompile(model):
    prompts, options = _prompts(1)
    score_continuations(model, prompts, options, buckets=BUCKETS)
    before = dict(TRACE_COUNTS)
    # Same stems, other tails and options of the same lengths: no new trace, hence no new compilation.
    other, other_options = _prompts(1, token_seed=7)
    assert other != prompts
    score_continuations(model, other, other_options, buckets=BUCKETS)
    assert dict(TRACE_COUNTS) == before


def test_option_trie_layout():
    lay = layout([5, 6, 7, 8], [[1], [2, 3, 4], [2, 3, 9], [2, 6]], prefix=2)
    # The last token of each option is only a target; the shared start [2, 3] is fed once.
    assert lay.tokens == [7, 8, 2, 3]
    assert lay.positions == [2, 3, 4, 5]  # every option continues right after the prompt
    assert lay.targets == [(1, 1, 0), (1, 2, 1), (2, 3, 1), (3, 4, 1), (1, 2, 2), (2, 3, 2), (3, 9, 2), (1, 2, 3),
                           (2, 6, 3)]  # fmt: skip
    expected = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(lay.mask, expected)
    branching = layout([5, 6], [[1, 2], [3, 4]], prefix=0)
    assert branching.tokens == [5, 6, 1, 3]
    assert branching.positions == [0, 1, 2, 2]
    assert not branching.mask[3, 2] and branching.mask[3, 1]  # siblings do not see each other


def _cost(prompts, groups) -> int:
    grouped = {i for members, _ in groups for i in members}
    cost = sum(len(prompts[i]) for i in range(len(prompts)) if i not in grouped)
    for members, prefix in groups:
        cost += prefix + BUCKETS.group_overhead + sum(len(prompts[i]) - prefix for i in members)
    return cost


def _common(rows) -> int:
    n = 0
    while all(len(r) > n for r in rows) and len({r[n] for r in rows}) == 1:
        n += 1
    return n


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=12)), min_size=1, max_size=30))
def test_prefix_groups_are_valid_and_never_cost_more_than_no_groups(spec):
    stems = [[1] * 30, [1] * 12 + [2] * 20, [3] * 9, [4] * 40]
    prompts = [stems[s] + tail for s, tail in spec]
    groups = plan_prefix_groups(prompts, BUCKETS)
    seen = [i for members, _ in groups for i in members]
    assert len(seen) == len(set(seen))
    for members, prefix in groups:
        rows = [prompts[i] for i in members]
        assert len(members) >= 2 and prefix >= BUCKETS.min_prefix
        assert prefix <= _common(rows) and prefix < min(map(len, rows))
    assert _cost(prompts, groups) <= sum(map(len, prompts))


def test_prefix_groups_follow_shared_stems():
    a, b = [1] * 40, [2] * 70
    prompts = [[*a, 5, i] for i in range(6)] + [[*b, i] for i in range(5)] + [[3] * 50]
    groups = sorted(plan_prefix_groups(prompts, BUCKETS), key=lambda g: g[0])
    assert groups == [([0, 1, 2, 3, 4, 5], 41), ([6, 7, 8, 9, 10], 70)]


def test_suffix_batches_attend_only_over_the_cache_slots_their_prefixes_need(model, monkeypatch):
    import econalign.model.scoring as scoring

    rng = np.random.default_rng(4)
    # Short stems (12 tokens) with short suffixes and one long stem (40) with long suffixes: the suffix batches
    # separate, and the short-prefix batch must not attend over the long prefix's 48 slots.
    stems = [list(rng.integers(3, 64, n)) for n in (12, 12, 40)]
    tails = (3, 3, 14)
    prompts = [
        stem + list(rng.integers(3, 64, tail)) for stem, tail in zip(stems, tails, strict=True) for _ in range(2)
    ]
    options = [[[5], [6, 7]] for _ in prompts]
    slots = []
    original = scoring._target_logprobs

    def recording(graphdef, state, tokens, positions, suffix_mask, logits_at, targets, cache, cache_valid):
        slots.append(cache_valid.shape[1])
        return original(graphdef, state, tokens, positions, suffix_mask, logits_at, targets, cache, cache_valid)

    monkeypatch.setattr(scoring, "_target_logprobs", recording)
    buckets = Buckets(batch_size=4, small_batches=(1, 2), min_length=8, min_prefix=4, group_overhead=0)
    got = score_continuations(model, prompts, options, buckets=buckets)
    assert sorted(slots) == [16, 48]  # cache_up(12) and cache_up(40)
    for g, want in zip(got, naive_scores(model, prompts, options), strict=True):
        np.testing.assert_allclose(g, want, atol=2e-4)


def test_prefix_passes_pad_short_prefixes_only_to_their_own_length(model, monkeypatch):
    import econalign.model.scoring as scoring

    rng = np.random.default_rng(3)
    # Three groups with short shared stems (12 tokens) and one with a long one (40): each is shared by two prompts.
    stems = [list(rng.integers(3, 64, n)) for n in (12, 12, 12, 40)]
    prompts = [stem + list(rng.integers(3, 64, 3)) for stem in stems for _ in range(2)]
    options = [[[5], [6, 7]] for _ in prompts]
    shapes = []
    original = scoring._prefix_kv

    def recording(graphdef, state, tokens):
        shapes.append(tokens.shape)
        return original(graphdef, state, tokens)

    monkeypatch.setattr(scoring, "_prefix_kv", recording)
    buckets = Buckets(batch_size=4, small_batches=(1, 2), min_length=8, min_prefix=4, group_overhead=0)
    got = score_continuations(model, prompts, options, buckets=buckets)
    assert sum(rows * length for rows, length in shapes) < 4 * 40  # one batch of four padded to 40 would be 160
    assert max(length for _, length in shapes) == 40
    for g, want in zip(got, naive_scores(model, prompts, options), strict=True):
        np.testing.assert_allclose(g, want, atol=2e-4)
