"""Batched, KV-cached, seeded text generation.

Prompts are left-padded to a bucket length so that every row's next token is predicted at the same index.
One jitted function runs the prefill and the whole decoding loop (``jax.lax.while_loop``): the keys and
values live in a fixed ``[L, B, K, T + N, H]`` buffer written in place, and the loop stops once every row has
produced an end token or the budget ``max_new_tokens`` is spent. The budget is padded up to a bucket and
passed as a traced limit, so calls with different budgets share one compilation.

Sampling is greedy at ``temperature == 0``; otherwise each prompt draws from its own key
``fold_in(key(seed), prompt_index)``, so a prompt's sample does not depend on which batch it landed in.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from econalign.model.buckets import Buckets, chunks, ladder_up
from econalign.model.llama import KVCache, Llama, causal_mask, positions_from_valid

TRACE_COUNTS: collections.Counter[str] = collections.Counter()
_DEFAULT_BUCKETS = Buckets(batch_size=8)


def generate_tokens(
    model: Llama,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    temperature: float = 0.0,
    seed: int = 0,
    buckets: Buckets = _DEFAULT_BUCKETS,
    progress: Callable[[int], Any] | None = None,
) -> list[list[int]]:
    """Continue each prompt until a stop token or ``max_new_tokens``.

    Args:
        model: The language model.
        prompts: Token ids per prompt.
        max_new_tokens: Budget of new tokens per prompt.
        stop_ids: Token ids that end a reply (not included in the output).
        temperature: 0 for greedy decoding, else the softmax temperature.
        seed: Seed of the sampling keys.
        buckets: Shape policy (batch sizes and prompt length ladder).
        progress: Called with the number of prompts finished after each batch.

    Returns:
        The generated token ids per prompt, without the stop token.
    """
    if max_new_tokens < 1:
        return [[] for _ in prompts]
    graphdef, state = nnx.split(model)
    budget = ladder_up(max_new_tokens)
    stops = jnp.asarray(sorted(set(stop_ids)) or [-1], dtype=jnp.int32)
    key = jax.random.key(seed)
    outputs: list[list[int]] = [[] for _ in prompts]
    by_length: dict[int, list[int]] = collections.defaultdict(list)
    for i, prompt in enumerate(prompts):
        by_length[buckets.length_up(len(prompt))].append(i)
    for length, members in sorted(by_length.items()):
        for batch, rows in chunks(members, buckets):
            tokens = np.zeros((rows, length), dtype=np.int32)
            valid = np.zeros((rows, length), dtype=bool)
            for row, i in enumerate(batch):
                tokens[row, length - len(prompts[i]) :] = prompts[i]
                valid[row, length - len(prompts[i]) :] = True
            valid[len(batch) :, -1] = True  # padding rows: one dummy token keeps their softmax finite
            index = np.array(list(batch) + [0] * (rows - len(batch)), dtype=np.uint32)
            generated, count = _decode(
                graphdef,
                state,
                jnp.asarray(tokens),
                jnp.asarray(valid),
                jnp.asarray(index),
                key,
                jnp.float32(temperature),
                jnp.int32(max_new_tokens),
                stops,
                budget,
            )
            generated, count = np.asarray(generated), np.asarray(count)
            for row, i in enumerate(batch):
                outputs[i] = [int(t) for t in generated[row, : count[row]]]
            if progress is not None:
                progress(len(batch))
    return outputs


@functools.partial(jax.jit, static_argnums=(0, 9))
def _decode(
    graphdef: Any,
    state: Any,
    tokens: jax.Array,
    valid: jax.Array,
    index: jax.Array,
    key: jax.Array,
    temperature: jax.Array,
    limit: jax.Array,
    stops: jax.Array,
    budget: int,
) -> tuple[jax.Array, jax.Array]:
    TRACE_COUNTS["decode"] += 1
    model = nnx.merge(graphdef, state)
    b, t = tokens.shape
    row_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)

    def sample(logits: jax.Array, step: jax.Array) -> jax.Array:
        greedy = jnp.argmax(logits, axis=-1)
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(row_keys, step)
        scaled = logits / jnp.maximum(temperature, 1e-6)
        drawn = jax.vmap(jax.random.categorical)(step_keys, scaled)
        return jnp.where(temperature > 0, drawn, greedy).astype(jnp.int32)

    positions = positions_from_valid(valid)
    out = model(tokens, positions, mask=causal_mask(valid), logits_at=jnp.full((b, 1), t - 1, jnp.int32))
    pad = [(0, 0)] * 3 + [(0, budget), (0, 0)]
    cache = KVCache(jnp.pad(out.kv.k, pad), jnp.pad(out.kv.v, pad))  # [L, B, K, T + budget, H]
    slot_valid = jnp.pad(valid, ((0, 0), (0, budget)))  # [B, T + budget]
    first = sample(out.logits[:, 0], jnp.int32(0))
    generated = jnp.zeros((b, budget), jnp.int32).at[:, 0].set(first)
    done = jnp.isin(first, stops)
    count = jnp.where(done, 0, 1)
    next_position = positions[:, -1] + 1

    def cond(carry: tuple) -> jax.Array:
        step, _, _, _, done, _ = carry
        return (step < limit) & ~jnp.all(done)

    def body(carry: tuple) -> tuple:
        step, generated, cache, slot_valid, done, count = carry
        token = generated[:, step - 1]
        slot = t + step - 1
        mask = jnp.concatenate([slot_valid, jnp.ones((b, 1), bool)], axis=-1)[:, None, :]  # [B, 1, S + 1]
        position = (next_position + step - 1)[:, None]
        step_out = model(token[:, None], position, mask=mask, cache=cache)
        cache = KVCache(
            jax.lax.dynamic_update_slice_in_dim(cache.k, step_out.kv.k, slot, axis=3),
            jax.lax.dynamic_update_slice_in_dim(cache.v, step_out.kv.v, slot, axis=3),
        )
        slot_valid = jax.lax.dynamic_update_slice_in_dim(slot_valid, jnp.ones((b, 1), bool), slot, axis=1)
        new = sample(step_out.logits[:, 0], step)
        generated = jax.lax.dynamic_update_slice_in_dim(generated, new[:, None], step, axis=1)
        stopped = jnp.isin(new, stops)
        count = jnp.where(done | stopped, count, count + 1)
        return step + 1, generated, cache, slot_valid, done | stopped, count

    carry = (jnp.int32(1), generated, cache, slot_valid, done, count)
    _, generated, _, _, _, count = jax.lax.while_loop(cond, body, carry)
    return generated, count
