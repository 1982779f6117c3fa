"""Log-probabilities of continuations after prompts: the evaluation hot path.

Three things make scoring cheap on CPU:

1. **Option tries.** A prompt and all its options go through the model as one sequence: the prompt tokens,
   then the options' tokens arranged as a trie (a shared start such as ``"Answer:"`` runs once; the last token
   of an option is only ever a target, so it is not fed). Each trie token gets the RoPE position it would have
   right after the prompt and attends to the prompt and to its own ancestors only. One pass scores every
   option, and the LM head runs only at the positions that predict option tokens.
2. **Shared prefixes.** Prompts are sorted and cut into groups that share a long token prefix (system
   prompt, game rules); :func:`plan_prefix_groups` picks the groups by dynamic programming over the sorted
   order. Each group's prefix runs once, and its keys and values are reused by every member's suffix.
3. **Bucket shapes.** Suffixes and prefix caches are padded up to a short ladder of lengths and batch sizes
   (:mod:`econalign.model.buckets`), so a warmed-up agent does not recompile.

The result equals scoring each ``prompt + option`` separately (up to float32 rounding): positions, masks and
targets are the same, only the work is shared.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from econalign.model.buckets import Buckets, ladder_up, plan_batches
from econalign.model.llama import KVCache, Llama, LlamaConfig
from econalign.model.staging import graph_jit

# Incremented when a jitted function is traced (compiled): tests assert that warm calls do not recompile.
TRACE_COUNTS: collections.Counter[str] = collections.Counter()
_DEFAULT_BUCKETS = Buckets()


@dataclasses.dataclass
class _Layout:
    """One prompt with its options, laid out as a suffix after a shared prefix of ``prefix`` tokens."""

    tokens: list[int]
    positions: list[int]
    mask: np.ndarray  # [T, T] bool: suffix token t sees suffix token s (the prefix is always visible)
    targets: list[tuple[int, int, int]]  # (index predicting the token, token id, option j)


def plan_prefix_groups(prompts: Sequence[Sequence[int]], buckets: Buckets) -> list[tuple[list[int], int]]:
    """Group prompts that share a token prefix, choosing groups that minimise the tokens run through the model.

    Prompts are sorted, so that a group is a contiguous run whose common prefix is the minimum of adjacent
    common prefixes. A group of ``m`` prompts with prefix ``p`` (at least ``min_prefix`` tokens, and shorter
    than every member) costs ``p + overhead + sum(len - p)`` tokens; a prompt outside any group costs its length.
    Dynamic programming over the sorted order finds the cheapest partition.

    Args:
        prompts: Token ids per prompt.
        buckets: Shape policy (``min_prefix``, ``max_group``, ``group_overhead``).

    Returns:
        ``(member indices, prefix length)`` per group with a prefix pass; prompts in no group are left out.
    """
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    lengths = [len(prompts[i]) for i in order]
    common = [_common_prefix(prompts[a], prompts[b]) for a, b in itertools.pairwise(order)]
    n = len(order)
    best = [0.0] * (n + 1)
    choice: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (group start, prefix length) ending before j
    for j in range(1, n + 1):
        best[j], choice[j] = best[j - 1] + lengths[j - 1], (j - 1, 0)
        shared, shortest, total = 1 << 30, lengths[j - 1], lengths[j - 1]
        for i in range(j - 2, max(-1, j - 1 - buckets.max_group), -1):
            shared = min(shared, common[i])
            shortest = min(shortest, lengths[i])
            total += lengths[i]
            # Each member keeps at least one suffix token: its last prompt token predicts the first option token.
            prefix = min(shared, shortest - 1)
            if prefix < buckets.min_prefix:
                break
            cost = best[i] + total - (j - i - 1) * prefix + buckets.group_overhead
            if cost < best[j]:
                best[j], choice[j] = cost, (i, prefix)
    groups = []
    j = n
    while j > 0:
        start, prefix = choice[j]
        if prefix:
            groups.append(([order[k] for k in range(start, j)], prefix))
        j = start
    return groups[::-1]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def layout(prompt: Sequence[int], options: Sequence[Sequence[int]], prefix: int) -> _Layout:
    """Lay out a prompt's suffix after ``prefix`` tokens, followed by the trie of its options.

    Args:
        prompt: Prompt token ids (longer than ``prefix``).
        options: Token ids of each option (non-empty).
        prefix: Tokens provided by the shared prefix cache.

    Returns:
        The suffix tokens, their RoPE positions, their attention mask and the scoring targets.
    """
    n = len(prompt)
    tokens = [int(t) for t in prompt[prefix:]]
    positions = list(range(prefix, n))
    parents = list(range(-1, len(tokens) - 1))
    nodes: dict[tuple[int, ...], int] = {(): len(tokens) - 1}  # option start -> suffix index of its last token
    targets = []
    for j, option in enumerate(options):
        for k, token in enumerate(option):
            targets.append((nodes[tuple(option[:k])], int(token), j))
            start = tuple(option[: k + 1])
            if k + 1 < len(option) and start not in nodes:
                parents.append(nodes[start[:-1]])
                nodes[start] = len(tokens)
                tokens.append(int(token))
                positions.append(n + k)
    mask = np.zeros((len(tokens), len(tokens)), dtype=bool)
    for t, parent in enumerate(parents):
        if parent >= 0:
            mask[t] = mask[parent]  # parents come first: a token sees what its parent sees, and itself
        mask[t, t] = True
    return _Layout(tokens, positions, mask, targets)


def full_mask(suffix_mask: jax.Array, cache_valid: jax.Array) -> jax.Array:
    """Attention mask of suffixes after a prefix cache.

    Args:
        suffix_mask: ``[B, T, T]`` bool, which suffix keys each suffix token sees.
        cache_valid: ``[B, S]`` bool, which cache slots hold the row's prefix (all of them are visible).

    Returns:
        ``[B, T, S + T]`` bool.
    """
    prefix = jnp.broadcast_to(cache_valid[:, None, :], (*suffix_mask.shape[:2], cache_valid.shape[-1]))
    return jnp.concatenate([prefix, suffix_mask], axis=-1)


@graph_jit()
def _prefix_kv(graphdef: Any, state: Any, tokens: jax.Array) -> KVCache:
    TRACE_COUNTS["prefix"] += 1
    model = nnx.merge(graphdef, state)
    return model(tokens, logits_at=jnp.zeros((tokens.shape[0], 1), jnp.int32)).kv


@graph_jit()
def _target_logprobs(
    graphdef: Any,
    state: Any,
    tokens: jax.Array,
    positions: jax.Array,
    suffix_mask: jax.Array,
    logits_at: jax.Array,
    targets: jax.Array,
    cache: KVCache | None,
    cache_valid: jax.Array,
) -> jax.Array:
    TRACE_COUNTS["score"] += 1
    model = nnx.merge(graphdef, state)
    mask = full_mask(suffix_mask, cache_valid)
    logits = model(tokens, positions, mask=mask, cache=cache, logits_at=logits_at).logits  # [B, P, V]
    logprobs = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logprobs, targets[..., None], axis=-1)[..., 0]  # [B, P]


def score_continuations(
    model: Llama,
    prompts: Sequence[Sequence[int]],
    options: Sequence[Sequence[Sequence[int]]],
    *,
    buckets: Buckets = _DEFAULT_BUCKETS,
    prefix_cache: bool = True,
    progress: Callable[[int], Any] | None = None,
) -> list[np.ndarray]:
    """Summed log-probability of each option's tokens after each prompt.

    Args:
        model: The language model.
        prompts: Token ids per prompt (at least one token each).
        options: Per prompt, the token ids of each option (each at least one token).
        buckets: Shape policy.
        prefix_cache: Reuse the keys and values of shared prompt prefixes.
        progress: Called with the number of prompts finished after each batch.

    Returns:
        Per prompt, a float64 array ``[n_options]``.
    """
    if len(prompts) != len(options):
        raise ValueError(f"{len(prompts)} prompts but {len(options)} option lists")
    if any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token")
    if not prompts:
        return []
    graphdef, state = nnx.split(model)
    prefix_of = np.zeros(len(prompts), dtype=np.int64)
    group_of = np.full(len(prompts), -1, dtype=np.int64)
    groups = plan_prefix_groups(prompts, buckets) if prefix_cache else []
    for g, (members, prefix) in enumerate(groups):
        prefix_of[members], group_of[members] = prefix, g
    layouts = [layout(prompts[i], options[i], int(prefix_of[i])) for i in range(len(prompts))]
    width = ladder_up(max(4, max(len(lay.targets) for lay in layouts)))
    results = [np.zeros(len(opts), dtype=np.float64) for opts in options]

    def run(rows: list[int], cache_rows: tuple[np.ndarray, ...] | None, cache_of: dict[int, int]) -> None:
        for members, allocated, length in plan_batches([len(layouts[i].tokens) for i in rows], buckets):
            batch = [rows[k] for k in members]
            arrays = _batch_arrays([layouts[i] for i in batch], allocated, length, width)
            # Each batch attends over the slots its longest prefix needs (on a coarse ladder, to bound the number
            # of compiled shapes): one long group must not make every batch attend over its cache length.
            slots = buckets.cache_up(int(prefix_of[batch].max())) if cache_rows is not None else 0
            cache_valid = np.zeros((allocated, slots), dtype=bool)
            cache_valid[: len(batch)] = np.arange(slots)[None, :] < prefix_of[batch][:, None]
            cache = None
            if slots:
                index = np.array([cache_of.get(int(group_of[i]), 0) for i in batch] + [0] * (allocated - len(batch)))
                cache = KVCache(*(jnp.asarray(np.take(part[..., :slots, :], index, axis=1)) for part in cache_rows))
            logprobs = _target_logprobs(graphdef, state, *arrays, cache, jnp.asarray(cache_valid))
            logprobs = np.asarray(logprobs, dtype=np.float64)
            for row, i in enumerate(batch):
                for slot, (_, _, j) in enumerate(layouts[i].targets):
                    results[i][j] += logprobs[row, slot]
            if progress is not None:
                progress(len(batch))

    ungrouped = [i for i in range(len(prompts)) if group_of[i] < 0]
    if not groups:
        run(ungrouped, None, {})
        return results
    slots = buckets.cache_up(max(prefix for _, prefix in groups))
    wave_size = buckets.batch_size * 4  # bounds the memory of prefix caches (~4 MB per 96-slot prefix of 135M)
    for start in range(0, len(groups), wave_size):
        wave = list(range(start, min(start + wave_size, len(groups))))
        prefixes = [prompts[groups[g][0][0]][: groups[g][1]] for g in wave]
        cache_rows = _prefix_caches(graphdef, state, model.config, prefixes, slots, buckets)
        members = [i for g in wave for i in groups[g][0]] + (ungrouped if start == 0 else [])
        run(members, cache_rows, {g: k for k, g in enumerate(wave)})
    return results


def _prefix_caches(
    graphdef: Any, state: Any, config: LlamaConfig, prefixes: list[Sequence[int]], slots: int, buckets: Buckets
) -> tuple[np.ndarray, ...]:
    """Keys and values of each prefix in ``slots`` right-padded slots (the padding is masked by the suffixes).

    Prefixes are cut into batches by :func:`plan_batches` (sorted by length, fewest padded token slots), so one
    long prefix does not make every short one pay for its length: on 40 battery prompts, ten groups with
    prefixes of 47 to 257 tokens had filled one 16 x 320 batch (5120 slots); now seven batches hold 1088.
    """
    shape = (config.num_layers, len(prefixes), config.num_kv_heads, slots, config.head_dim)
    out = tuple(np.zeros(shape, dtype=np.dtype(config.jnp_dtype)) for _ in range(2))  # [L, G, K, S, H] each
    for batch, allocated, length in plan_batches([len(prefix) for prefix in prefixes], buckets):
        tokens = np.zeros((allocated, length), dtype=np.int32)
        for row, i in enumerate(batch):
            tokens[row, : len(prefixes[i])] = prefixes[i]
        kv = _prefix_kv(graphdef, state, jnp.asarray(tokens))
        for part, computed in zip(out, kv, strict=True):
            part[:, batch, :, :length] = np.asarray(computed)[:, : len(batch)]
    return out


def _batch_arrays(layouts: list[_Layout], rows: int, length: int, width: int) -> tuple[jax.Array, ...]:
    tokens = np.zeros((rows, length), dtype=np.int32)
    positions = np.zeros((rows, length), dtype=np.int32)
    mask = np.zeros((rows, length, length), dtype=bool)
    logits_at = np.zeros((rows, width), dtype=np.int32)
    targets = np.zeros((rows, width), dtype=np.int32)
    for row, lay in enumerate(layouts):
        n = len(lay.tokens)
        tokens[row, :n], positions[row, :n], mask[row, :n, :n] = lay.tokens, lay.positions, lay.mask
        for slot, (index, token, _) in enumerate(lay.targets):
            logits_at[row, slot], targets[row, slot] = index, token
    return tuple(jnp.asarray(x) for x in (tokens, positions, mask, logits_at, targets))
