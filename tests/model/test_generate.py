"""Generation: greedy decoding against a plain argmax loop and HF's generate; seeded sampling; no recompilation."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_ARCHS, forward, random_model

from econalign.model.buckets import Buckets
from econalign.model.generate import TRACE_COUNTS, generate_tokens
from econalign.model.llama import LlamaConfig

BUCKETS = Buckets(batch_size=4, small_batches=(1,), min_length=8)


@pytest.fixture(scope="module")
def model():
    return random_model(LlamaConfig(2, 40, 32, 64, 4, 2, 8), seed=3, scale=0.5)


def argmax_loop(model, prompt, n, stops):
    """Greedy decoding without a cache: the whole sequence again for every token (padded to one shape)."""
    sequence, out = list(prompt), []
    for _ in range(n):
        logits = forward(model, jnp.asarray([sequence + [0] * (40 - len(sequence))])).logits[0, len(sequence) - 1]
        token = int(jnp.argmax(logits))
        if token in stops:
            break
        out.append(token)
        sequence.append(token)
    return out


def test_greedy_equals_an_argmax_loop(model):
    rng = np.random.default_rng(0)
    prompts = [[int(t) for t in rng.integers(0, 40, n)] for n in (3, 11, 6, 1, 9)]
    stops = [5, 17]
    got = generate_tokens(model, prompts, max_new_tokens=12, stop_ids=stops, buckets=BUCKETS)
    assert got == [argmax_loop(model, p, 12, stops) for p in prompts]


def test_windowed_greedy_equals_an_argmax_loop():
    # Decode buffers hold left-padded rows at their slots; the window must count positions, not slots.
    windowed = random_model(LlamaConfig(2, 40, 32, 64, 4, 2, 8, sliding_window=4), seed=3, scale=0.5)
    rng = np.random.default_rng(0)
    prompts = [[int(t) for t in rng.integers(0, 40, n)] for n in (3, 11, 6, 1, 9)]
    got = generate_tokens(windowed, prompts, max_new_tokens=12, stop_ids=[], buckets=BUCKETS)
    assert got == [argmax_loop(windowed, p, 12, []) for p in prompts]


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_greedy_equals_hf_generate(arch, tiny_agents, tiny_reference):
    ref = tiny_reference[arch]["greedy"]
    got = generate_tokens(tiny_agents[arch].model, [ref["prompt_ids"]], max_new_tokens=12, stop_ids=[2])
    assert got == [ref["tokens"]]


def test_sampling_is_seeded_and_independent_of_batching(model):
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10], [11, 12]]
    kwargs = dict(max_new_tokens=10, stop_ids=[], temperature=1.0)
    first = generate_tokens(model, prompts, seed=1, buckets=BUCKETS, **kwargs)
    assert first == generate_tokens(model, prompts, seed=1, buckets=BUCKETS, **kwargs)
    assert first == generate_tokens(model, prompts, seed=1, buckets=Buckets(batch_size=2, small_batches=(1,)), **kwargs)
    assert first != generate_tokens(model, prompts, seed=2, buckets=BUCKETS, **kwargs)
    assert all(len(row) == 10 for row in first)


def test_warm_generation_does_not_recompile(model):
    generate_tokens(model, [[1, 2, 3], [4, 5, 6, 7]], max_new_tokens=7, stop_ids=[3], buckets=BUCKETS)
    before = dict(TRACE_COUNTS)
    # Other prompt lengths and budgets inside the same buckets.
    out = generate_tokens(model, [[9, 9], [8, 8, 8, 8, 8], [1]], max_new_tokens=8, stop_ids=[4], buckets=BUCKETS)
    assert dict(TRACE_COUNTS) == before
    assert all(len(row) <= 8 for row in out)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_sampled_tokens_follow_the_tempered_softmax(model, temperature):
    """First tokens of 1,200 copies of one prompt against softmax(logits / T) (chi-square; prompts draw apart)."""
    from scipy import stats

    prompt, n = [1, 2, 3], 1200
    tokens = generate_tokens(
        model, [prompt] * n, max_new_tokens=1, stop_ids=[], temperature=temperature, seed=7,
        buckets=Buckets(batch_size=400, small_batches=(1,), min_length=8),
    )  # fmt: skip
    logits = np.asarray(forward(model, jnp.asarray([prompt + [0] * 5])).logits[0, len(prompt) - 1], np.float64)
    expected = np.exp((logits - logits.max()) / temperature)
    expected *= n / expected.sum()
    counts = np.bincount([row[0] for row in tokens], minlength=len(expected)).astype(float)
    # Pool the rare tokens so every cell expects at least 5 draws.
    rare = expected < 5
    observed = np.append(counts[~rare], counts[rare].sum())
    wanted = np.append(expected[~rare], expected[rare].sum())
    assert (~rare).sum() >= 4
    assert stats.chisquare(observed, wanted).pvalue > 1e-3
    # The other temperature's distribution is rejected: the draws do depend on T.
    other = np.exp((logits - logits.max()) / (2.5 - temperature))
    other *= n / other.sum()
    assert (
        stats.chisquare(np.append(counts[~rare], counts[rare].sum()), np.append(other[~rare], other[rare].sum())).pvalue
        < 1e-3
    )


def test_per_prompt_seeds_make_a_sample_independent_of_the_other_prompts(model):
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10], [11, 12]]
    seeds = [101, 202, 303, 404, 505]
    kwargs = dict(max_new_tokens=10, stop_ids=[], temperature=1.0, buckets=BUCKETS)
    every = generate_tokens(model, prompts, seed=seeds, **kwargs)
    subset = [4, 2, 0]
    assert generate_tokens(model, [prompts[i] for i in subset], seed=[seeds[i] for i in subset], **kwargs) == [
        every[i] for i in subset
    ]
    # A prompt with its own seed gets the reply of a call holding it alone.
    assert generate_tokens(model, [prompts[3]], seed=seeds[3], **kwargs) == [every[3]]
    # One seed per call keys prompts by their place in the call, so the same prompt moved draws another reply.
    by_place = generate_tokens(model, prompts, seed=7, **kwargs)
    assert generate_tokens(model, prompts[2:], seed=7, **kwargs)[0] != by_place[2]
    # Seeds beyond 32 bits work as jax.random.key takes them, alone or per prompt.
    wide = generate_tokens(model, prompts[:1], seed=2**40, **kwargs)
    assert (
        wide
        == generate_tokens(model, prompts[:1], seed=[2**40], **kwargs)
        != generate_tokens(model, prompts[:1], seed=2**40 + 1, **kwargs)
    )
    with pytest.raises(ValueError, match="5 prompts but 2 seeds"):
        generate_tokens(model, prompts, seed=[1, 2], **kwargs)
