"""The optimiser of supervised fine-tuning: AdamW with linear warmup, cosine decay and gradient clipping.

One factory returns one ``optax`` chain; the training loop never builds optimisers itself. Gradient
accumulation happens in :mod:`econalign.train.loop` (it sums microbatch gradients before calling the chain
once per optimiser step), so the chain here always sees the gradient of a full batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax


def learning_rate_schedule(
    *, peak_value: float, total_steps: int, warmup_steps: int, end_value_ratio: float = 0.0
) -> optax.Schedule:
    """Linear warmup from 0 to ``peak_value``, then cosine decay to ``end_value_ratio * peak_value``.

    Args:
        peak_value: The learning rate reached at the end of warmup.
        total_steps: Optimiser steps of the whole run (warmup included).
        warmup_steps: Steps of linear warmup (clipped to ``total_steps - 1``).
        end_value_ratio: Final learning rate as a fraction of the peak.

    Returns:
        A schedule: step (int) -> learning rate.

    Raises:
        ValueError: If ``total_steps`` is not positive.

    Example:
        >>> schedule = learning_rate_schedule(peak_value=1e-3, total_steps=100, warmup_steps=10)
        >>> round(float(schedule(0)), 9), round(float(schedule(10)), 9)
        (0.0, 0.001)

    References:
        Loshchilov & Hutter, "SGDR: Stochastic gradient descent with warm restarts", ICLR 2017.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup_steps = min(max(int(warmup_steps), 0), total_steps - 1)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        # optax counts decay_steps from step 0, warmup included.
        decay_steps=max(total_steps, warmup_steps + 1),
        end_value=peak_value * end_value_ratio,
    )


def decay_mask(params: Any) -> Any:
    """Weight-decay mask: decay matrices (ndim >= 2), never vectors such as norm scales or biases.

    Args:
        params: A pytree of arrays.

    Returns:
        A pytree of booleans with the same structure.
    """
    return jax.tree.map(lambda leaf: jnp.ndim(leaf) >= 2, params)


def make_optimizer(
    *,
    learning_rate: float,
    total_steps: int,
    warmup_steps: int,
    end_lr_ratio: float = 0.0,
    weight_decay: float = 0.0,
    clip_norm: float | None = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """AdamW with warmup + cosine decay, preceded by global-norm gradient clipping.

    Args:
        learning_rate: Peak learning rate.
        total_steps: Optimiser steps of the run (sets the length of the cosine).
        warmup_steps: Steps of linear warmup.
        end_lr_ratio: Final learning rate as a fraction of the peak.
        weight_decay: Decoupled weight decay, applied to matrices only (:func:`decay_mask`).
        clip_norm: Clip the gradient to this global L2 norm; ``None`` or 0 disables clipping.
        b1: Adam's first-moment decay.
        b2: Adam's second-moment decay.
        eps: Adam's denominator epsilon.

    Returns:
        An ``optax.GradientTransformation``.

    Example:
        >>> import jax.numpy as jnp
        >>> opt = make_optimizer(learning_rate=0.1, total_steps=10, warmup_steps=0, clip_norm=None)
        >>> params = {"w": jnp.ones(2)}
        >>> updates, _ = opt.update({"w": jnp.ones(2)}, opt.init(params), params)
        >>> [round(float(u), 4) for u in updates["w"]]
        [-0.1, -0.1]

    References:
        Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019.
    """
    schedule = learning_rate_schedule(
        peak_value=learning_rate, total_steps=total_steps, warmup_steps=warmup_steps, end_value_ratio=end_lr_ratio
    )
    parts: list[optax.GradientTransformation] = []
    if clip_norm:
        parts.append(optax.clip_by_global_norm(clip_norm))
    parts.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=decay_mask))
    return optax.chain(*parts)


def warmup_steps(finetune: dict[str, Any], total_steps: int) -> int:
    """Warmup steps of a run: ``warmup_ratio`` of its optimiser steps, rounded."""
    return round(finetune["warmup_ratio"] * total_steps)


def optimizer_from_config(finetune: dict[str, Any], *, total_steps: int) -> optax.GradientTransformation:
    """Build :func:`make_optimizer` from the resolved ``finetune`` config section.

    Args:
        finetune: The ``finetune`` section (``learning_rate``, ``warmup_ratio``, ``end_lr_ratio``,
            ``weight_decay``, ``clip_norm``, ``adam_b1``, ``adam_b2``, ``adam_eps``).
        total_steps: Optimiser steps of the run.

    Returns:
        The optimiser.
    """
    return make_optimizer(
        learning_rate=finetune["learning_rate"],
        total_steps=total_steps,
        warmup_steps=warmup_steps(finetune, total_steps),
        end_lr_ratio=finetune["end_lr_ratio"],
        weight_decay=finetune["weight_decay"],
        clip_norm=finetune["clip_norm"],
        b1=finetune["adam_b1"],
        b2=finetune["adam_b2"],
        eps=finetune["adam_eps"],
    )


def schedule_from_config(finetune: dict[str, Any], *, total_steps: int) -> Callable[[int], Any]:
    """The learning-rate schedule that :func:`optimizer_from_config` uses (for logging the lr of each step)."""
    return learning_rate_schedule(
        peak_value=finetune["learning_rate"],
        total_steps=total_steps,
        warmup_steps=warmup_steps(finetune, total_steps),
        end_value_ratio=finetune["end_lr_ratio"],
    )
