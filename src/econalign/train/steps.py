"""The jitted pieces of a training run: loss, gradient, optimiser update and evaluation.

The model is split once into ``graphdef`` (structure), ``trainable`` (the ``nnx.LoRAParam`` adapters, or
every ``nnx.Param`` for full fine-tuning) and ``frozen`` (the rest); the functions here take these pure
pytrees, so JAX traces them once per batch shape. The LM head runs only at a batch's answer slots
(``logits_at``), and the loss is the weighted negative log-likelihood of the answer tokens.

Gradient accumulation: :func:`make_grad_fn` returns the gradient of the weighted *sum* of the microbatch's
token losses; the loop adds microbatch gradients and :func:`make_update_fn` divides by the step's total
weight before the optimiser, so an accumulated step equals one step on the concatenated batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

Batch = dict[str, jax.Array]


def split_model(
    model: nnx.Module, *, full: bool, layers: Sequence[int] | None = None
) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """Split ``model`` into ``(graphdef, trainable, frozen)``.

    Args:
        model: The (possibly LoRA-wrapped) model.
        full: Train every parameter; otherwise only ``nnx.LoRAParam``.
        layers: With ``full``, train only these decoder blocks and the final norm (the embeddings, an untied LM
            head and the other blocks stay frozen, so the backward pass stops at the first trained block); ``None``
            trains every parameter. LoRA restricts its blocks where the adapters are made (``apply_lora(layers=...)``).

    Returns:
        The graph definition, the trainable state and the remaining state.

    Raises:
        ValueError: ``layers`` without ``full``.
    """
    if layers is None:
        wrt: Any = nnx.Param if full else nnx.LoRAParam
    else:
        if not full:
            raise ValueError("split_model(layers=...) needs full=True; LoRA blocks are chosen by apply_lora")
        chosen = set(layers)

        def in_chosen_blocks(path: tuple[Any, ...], _: Any) -> bool:
            return path[0] == "norm" or (path[0] == "layers" and int(path[1]) in chosen)

        wrt = nnx.All(nnx.Param, in_chosen_blocks)
    graphdef, trainable, frozen = nnx.split(model, wrt, ...)
    return graphdef, trainable, frozen


def token_log_probs(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Log-probability of ``labels`` under ``logits``.

    Args:
        logits: ``[B, A, V]`` float.
        labels: ``[B, A]`` int.

    Returns:
        ``[B, A]`` float32.
    """
    logits = logits.astype(jnp.float32)
    picked = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    return picked - jax.nn.logsumexp(logits, axis=-1)


def _logits(graphdef: nnx.GraphDef, trainable: Any, frozen: Any, batch: Batch) -> jax.Array:
    model = nnx.merge(graphdef, trainable, frozen)
    return model(batch["tokens"], logits_at=batch["positions"]).logits  # [B, A, V]


def weighted_nll(
    graphdef: nnx.GraphDef, trainable: Any, frozen: Any, batch: Batch
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted sum of the answer tokens' negative log-likelihood, and statistics.

    Args:
        graphdef: From :func:`split_model`.
        trainable: Trainable state.
        frozen: Frozen state.
        batch: ``tokens`` ``[B, T]``, ``positions``/``labels``/``weights`` ``[B, A]``.

    Returns:
        ``(sum_i w_i · nll_i, {"weight": sum_i w_i, "tokens": count of w_i > 0})``.
    """
    log_probs = token_log_probs(_logits(graphdef, trainable, frozen, batch), batch["labels"])
    weights = batch["weights"]
    stats = {"weight": weights.sum(), "tokens": (weights > 0).sum()}
    return -(weights * log_probs).sum(), stats


def make_grad_fn(graphdef: nnx.GraphDef) -> Callable[..., tuple[jax.Array, dict[str, jax.Array], Any]]:
    """A jitted ``(trainable, frozen, batch) -> (loss_sum, stats, grads)`` for one microbatch.

    Args:
        graphdef: From :func:`split_model`.

    Returns:
        The function; ``grads`` has the structure of ``trainable``.
    """

    def grad_fn(trainable: Any, frozen: Any, batch: Batch) -> tuple[jax.Array, dict[str, jax.Array], Any]:
        (loss_sum, stats), grads = jax.value_and_grad(lambda t: weighted_nll(graphdef, t, frozen, batch), has_aux=True)(
            trainable
        )
        return loss_sum, stats, grads

    return jax.jit(grad_fn)


def make_update_fn(optimizer: optax.GradientTransformation) -> Callable[..., tuple[Any, Any, jax.Array]]:
    """A jitted ``(trainable, opt_state, grad_sum, weight_sum) -> (trainable, opt_state, grad_norm)``.

    The summed gradient is divided by the step's total loss weight (the token-weighted mean), then passed to
    ``optimizer``. ``trainable`` and ``opt_state`` are donated.

    Args:
        optimizer: From :func:`econalign.train.optim.make_optimizer`.

    Returns:
        The function; ``grad_norm`` is the global norm of the mean gradient before clipping.
    """

    def update_fn(trainable: Any, opt_state: Any, grad_sum: Any, weight_sum: jax.Array) -> tuple[Any, Any, jax.Array]:
        grads = jax.tree.map(lambda g: g / jnp.maximum(weight_sum, 1e-9).astype(g.dtype), grad_sum)
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, updates), opt_state, optax.tree.norm(grads)

    return jax.jit(update_fn, donate_argnums=(0, 1))


def add_trees(total: Any, tree: Any) -> Any:
    """Element-wise sum of two pytrees of arrays (gradient accumulation)."""
    return jax.tree.map(jnp.add, total, tree)


add_trees_jit = jax.jit(add_trees, donate_argnums=(0,))


def make_eval_fn(graphdef: nnx.GraphDef) -> Callable[..., dict[str, jax.Array]]:
    """A jitted evaluation of a batch with choice columns (see :func:`econalign.train.data.make_batch`).

    Args:
        graphdef: From :func:`split_model`.

    Returns:
        ``(trainable, frozen, batch) -> {"logprob_sum" [B], "weight" [B], "option_logprobs" [B, K]}``: the
        weighted sum of answer-token log-probabilities per row, the row's total weight, and the log-probability
        of each option's token at the row's choice slot (``-inf`` where ``option_mask`` is False).
    """

    def eval_fn(trainable: Any, frozen: Any, batch: Batch) -> dict[str, jax.Array]:
        logits = _logits(graphdef, trainable, frozen, batch)  # [B, A, V]
        log_probs = token_log_probs(logits, batch["labels"])
        at_choice = jnp.take_along_axis(logits, batch["choice_slot"][:, None, None], axis=1)[:, 0]  # [B, V]
        at_choice = jax.nn.log_softmax(at_choice.astype(jnp.float32), axis=-1)
        options = jnp.take_along_axis(at_choice, batch["option_ids"], axis=-1)  # [B, K]
        return {
            "logprob_sum": (batch["weights"] * log_probs).sum(-1),
            "weight": batch["weights"].sum(-1),
            "option_logprobs": jnp.where(batch["option_mask"], options, -jnp.inf),
        }

    return jax.jit(eval_fn)
