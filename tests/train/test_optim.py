from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from econalign.train.optim import (
    decay_mask,
    learning_rate_schedule,
    make_optimizer,
    optimizer_from_config,
    schedule_from_config,
    warmup_steps,
)


def reference_lr(step: int, *, peak: float, total: int, warmup: int, end_ratio: float) -> float:
    if step < warmup:
        return peak * step / warmup
    progress = min((step - warmup) / (total - warmup), 1.0)
    end = peak * end_ratio
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize(("total", "warmup", "end_ratio"), [(100, 10, 0.0), (37, 0, 0.1), (5, 2, 0.5)])
def test_schedule_is_linear_warmup_then_cosine(total, warmup, end_ratio):
    schedule = learning_rate_schedule(
        peak_value=3e-4, total_steps=total, warmup_steps=warmup, end_value_ratio=end_ratio
    )
    for step in range(total + 1):
        expected = reference_lr(step, peak=3e-4, total=total, warmup=warmup, end_ratio=end_ratio)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=3e-10)


def test_schedule_rejects_empty_runs():
    with pytest.raises(ValueError):
        learning_rate_schedule(peak_value=1.0, total_steps=0, warmup_steps=0)


def reference_adamw(params, grads, *, lr_at, wd, clip, b1, b2, eps):
    """AdamW with global-norm clipping, written out in numpy (decoupled decay on matrices only)."""
    ref = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(val) for k, val in params.items()}
    for t, g in enumerate(grads, start=1):
        norm = math.sqrt(sum(float((x**2).sum()) for x in g.values()))
        factor = min(1.0, clip / norm)
        step_lr = lr_at(t - 1)
        for k in ref:
            gk = g[k] * factor
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk**2
            mhat, vhat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            decay = wd * ref[k] if ref[k].ndim >= 2 else 0.0  # vectors are not decayed
            ref[k] = ref[k] - step_lr * (mhat / (np.sqrt(vhat) + eps) + decay)
    return ref


def run_optimizer(opt, params, grads):
    state = opt.init(jax.tree.map(jnp.asarray, params))
    ours = jax.tree.map(jnp.asarray, params)
    update = jax.jit(opt.update)
    for g in grads:
        updates, state = update(jax.tree.map(jnp.asarray, g), state, ours)
        ours = jax.tree.map(lambda p, u: p + u, ours, updates)
    return ours


def random_problem(steps, seed=0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.normal(size=(3, 4)), "scale": rng.normal(size=4)}
    grads = [{"w": rng.normal(size=(3, 4)) * 5, "scale": rng.normal(size=4) * 5} for _ in range(steps)]
    return params, grads


def test_optimizer_matches_reference_adamw_with_clipping():
    params, grads = random_problem(3)
    lr, wd, clip, b1, b2, eps = 0.01, 0.1, 1.0, 0.9, 0.99, 1e-8
    opt = make_optimizer(
        learning_rate=lr, total_steps=3, warmup_steps=0, weight_decay=wd, clip_norm=clip, b1=b1, b2=b2, eps=eps
    )
    ours = run_optimizer(opt, params, grads)
    ref = reference_adamw(
        params,
        grads,
        lr_at=lambda step: reference_lr(step, peak=lr, total=3, warmup=0, end_ratio=0.0),
        wd=wd,
        clip=clip,
        b1=b1,
        b2=b2,
        eps=eps,
    )
    for k in ref:
        np.testing.assert_allclose(np.asarray(ours[k]), ref[k], rtol=1e-5, atol=1e-6)


def test_the_finetune_config_sets_every_optimiser_setting():
    """Unusual values for every key, so that a swapped or ignored key changes the result."""
    finetune = {
        "learning_rate": 0.02,
        "warmup_ratio": 0.3,
        "end_lr_ratio": 0.2,
        "weight_decay": 0.05,
        "clip_norm": 2.0,
        "adam_b1": 0.8,
        "adam_b2": 0.95,
        "adam_eps": 1e-3,
    }
    total = 7
    assert warmup_steps(finetune, total) == 2  # round(0.3 * 7)

    def lr_at(step):
        return reference_lr(step, peak=0.02, total=total, warmup=2, end_ratio=0.2)

    schedule = schedule_from_config(finetune, total_steps=total)
    assert [float(schedule(step)) for step in range(total + 1)] == pytest.approx(
        [lr_at(step) for step in range(total + 1)], rel=1e-5, abs=1e-10
    )
    params, grads = random_problem(total, seed=1)
    ours = run_optimizer(optimizer_from_config(finetune, total_steps=total), params, grads)
    ref = reference_adamw(params, grads, lr_at=lr_at, wd=0.05, clip=2.0, b1=0.8, b2=0.95, eps=1e-3)
    for k in ref:
        np.testing.assert_allclose(np.asarray(ours[k]), ref[k], rtol=1e-5, atol=1e-6)


def test_decay_mask_selects_matrices():
    mask = decay_mask({"kernel": jnp.ones((2, 3)), "norm": jnp.ones(3), "lora": {"a": jnp.ones((3, 1))}})
    assert mask == {"kernel": True, "norm": False, "lora": {"a": True}}
