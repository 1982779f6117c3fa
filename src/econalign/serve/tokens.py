"""Next-token log-probabilities of a served agent, for the API's ``logprobs`` / ``top_logprobs``.

An agent may provide ``next_token_logprobs(id_lists) -> [B, V]`` itself (test doubles do). Otherwise, when it
holds its language model as ``agent.model`` (an :class:`econalign.model.llama.Llama`, adapter merged or
wrapped in place), the distribution after each token list is computed here: rows are right-padded to a
bucket length (causal attention keeps padding after a row's last token invisible to it), batched to the
bucket ladder, and the LM head runs only at each row's last token.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np


def supports_token_logprobs(agent: Any) -> bool:
    """Whether :func:`next_token_logprobs` can serve this agent."""
    return callable(getattr(agent, "next_token_logprobs", None)) or hasattr(agent, "model")


def next_token_logprobs(agent: Any, id_lists: Sequence[Sequence[int]], *, batch_size: int = 8) -> np.ndarray:
    """Log-softmax of the next-token distribution after each token list.

    Args:
        agent: An agent with ``next_token_logprobs`` or a ``model`` attribute.
        id_lists: Token ids (prompt, then any generated tokens), at least one token each.
        batch_size: Rows per model call (on the ``model`` path).

    Returns:
        float64 array ``[len(id_lists), V]``.
    """
    method = getattr(agent, "next_token_logprobs", None)
    if callable(method):
        return np.asarray(method(id_lists), dtype=np.float64)
    return _model_next_token_logprobs(agent.model, id_lists, batch_size=batch_size)


def _model_next_token_logprobs(model: Any, id_lists: Sequence[Sequence[int]], *, batch_size: int) -> np.ndarray:
    import jax.numpy as jnp
    from flax import nnx

    from econalign.model.buckets import Buckets, ladder_up

    if any(len(ids) == 0 for ids in id_lists):
        raise ValueError("every row needs at least one token")
    buckets = Buckets(batch_size=batch_size)
    graphdef, state = nnx.split(model)
    rows: list[np.ndarray] = [np.empty(0)] * len(id_lists)
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
    for start in range(0, len(order), batch_size):
        members = order[start : start + batch_size]
        length = buckets.length_up(max(len(id_lists[i]) for i in members))
        allocated = ladder_up(len(members))
        tokens = np.zeros((allocated, length), dtype=np.int32)
        last = np.zeros((allocated, 1), dtype=np.int32)
        for row, i in enumerate(members):
            tokens[row, : len(id_lists[i])] = id_lists[i]
            last[row, 0] = len(id_lists[i]) - 1
        out = np.asarray(_last_logprobs(graphdef, state, jnp.asarray(tokens), jnp.asarray(last)), dtype=np.float64)
        for row, i in enumerate(members):
            rows[i] = out[row]
    return np.stack(rows)


@functools.cache
def _jitted() -> Any:
    import jax
    from flax import nnx

    from econalign.model.staging import graph_jit

    @graph_jit()
    def run(graphdef: Any, state: Any, tokens: Any, last: Any) -> Any:
        model = nnx.merge(graphdef, state)
        logits = model(tokens, logits_at=last).logits[:, 0, :]  # [B, V]
        return jax.nn.log_softmax(logits, axis=-1)

    return run


def _last_logprobs(graphdef: Any, state: Any, tokens: Any, last: Any) -> Any:
    return _jitted()(graphdef, state, tokens, last)
