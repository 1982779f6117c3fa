from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from econalign.model.lora import apply_lora
from econalign.train.data import Example, make_batch
from econalign.train.steps import add_trees, make_eval_fn, make_grad_fn, split_model, weighted_nll

from .tiny import tiny_model


def examples(n: int, seed: int) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length, answer = int(rng.integers(6, 16)), int(rng.integers(1, 5))
        tokens = rng.integers(3, 272, length).astype(np.int32)
        weights = rng.uniform(0.5, 3.0, answer).astype(np.float32)
        out.append(Example(tokens=tokens, prompt_length=length - answer, weights=weights))
    return out


def full_log_probs(model, tokens) -> np.ndarray:
    logits = np.asarray(model(jnp.asarray(tokens)).logits, np.float64)  # every position, no logits_at
    return (
        logits
        - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - logits.max(-1, keepdims=True)
    )


@pytest.fixture(scope="module")
def lora_model():
    model = apply_lora(tiny_model(), rank=4, alpha=8, targets=["q_proj", "v_proj"], rngs=nnx.Rngs(1))
    key = jax.random.key(2)
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.LoRAParam)):
        if path[-1] == "lora_b":
            key, sub = jax.random.split(key)
            var.set_value(0.1 * jax.random.normal(sub, var.get_value().shape))
    return model


def test_weighted_nll_matches_full_logits(lora_model):
    exs = examples(3, 0)
    batch = make_batch(exs, rows=4, length=16, slots=8)
    graphdef, trainable, frozen = split_model(lora_model, full=False)
    loss, stats = weighted_nll(graphdef, trainable, frozen, jax.tree.map(jnp.asarray, batch))
    log_probs = full_log_probs(lora_model, batch["tokens"])
    expected = 0.0
    for row, ex in enumerate(exs):
        for j, token in enumerate(ex.tokens[ex.prompt_length :]):
            expected -= ex.weights[j] * log_probs[row, ex.prompt_length - 1 + j, token]
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(stats["weight"]) == pytest.approx(sum(float(ex.weights.sum()) for ex in exs), rel=1e-6)
    assert int(stats["tokens"]) == sum(ex.answer_length for ex in exs)


def test_lora_split_trains_only_adapters(lora_model):
    _, trainable, frozen = split_model(lora_model, full=False)
    trainable_paths = [path for path, _ in nnx.to_flat_state(trainable)]
    assert trainable_paths and all(path[-1] in ("lora_a", "lora_b") for path in trainable_paths)
    assert not any(path[-1] in ("lora_a", "lora_b") for path, _ in nnx.to_flat_state(frozen))
    _, full_trainable, _ = split_model(lora_model, full=True)
    assert len(nnx.to_flat_state(full_trainable)) > len(trainable_paths)


def test_accumulated_gradient_equals_full_batch_gradient_without_recompiling(lora_model):
    exs = examples(4, 1)
    graphdef, trainable, frozen = split_model(lora_model, full=False)
    grad_fn = make_grad_fn(graphdef)
    whole = jax.tree.map(jnp.asarray, make_batch(exs, rows=4, length=16, slots=8))
    loss, stats, grads = grad_fn(trainable, frozen, whole)
    parts = [jax.tree.map(jnp.asarray, make_batch(exs[i : i + 2], rows=2, length=16, slots=8)) for i in (0, 2)]
    loss_a, stats_a, grads_a = grad_fn(trainable, frozen, parts[0])
    loss_b, stats_b, grads_b = grad_fn(trainable, frozen, parts[1])
    assert grad_fn._cache_size() == 2  # one trace per batch shape, none for the repeated shape
    assert float(loss_a + loss_b) == pytest.approx(float(loss), rel=1e-5)
    assert float(stats_a["weight"] + stats_b["weight"]) == pytest.approx(float(stats["weight"]))
    for a, b in zip(jax.tree.leaves(add_trees(grads_a, grads_b)), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_eval_reads_option_log_probs_at_the_choice_slot(lora_model):
    exs = [
        Example(
            tokens=ex.tokens,
            prompt_length=ex.prompt_length,
            weights=ex.weights,
            choice_slot=0,
            option_ids=np.array([5, 9, 11], np.int32),
            answer=1,
        )
        for ex in examples(2, 3)
    ]
    batch = make_batch(exs, rows=2, length=16, slots=8, num_options=3)
    graphdef, trainable, frozen = split_model(lora_model, full=False)
    out = make_eval_fn(graphdef)(trainable, frozen, jax.tree.map(jnp.asarray, batch))
    log_probs = full_log_probs(lora_model, batch["tokens"])
    for row, ex in enumerate(exs):
        at = ex.prompt_length - 1
        np.testing.assert_allclose(np.asarray(out["option_logprobs"][row]), log_probs[row, at, [5, 9, 11]], atol=1e-5)
        expected = sum(
            ex.weights[j] * log_probs[row, at + j, token] for j, token in enumerate(ex.tokens[ex.prompt_length :])
        )
        assert float(out["logprob_sum"][row]) == pytest.approx(expected, rel=1e-5)


def test_train_layers_trains_the_top_blocks_with_the_full_models_gradient():
    model = tiny_model()
    graphdef, trainable, frozen = split_model(model, full=True, layers=[1])
    top_paths = {path for path, _ in nnx.to_flat_state(trainable)}
    assert top_paths and all(path[0] == "norm" or path[:2] == ("layers", 1) for path in top_paths)
    rest_paths = {path for path, _ in nnx.to_flat_state(frozen)}
    assert ("embed_tokens", "embedding") in rest_paths and any(path[:2] == ("layers", 0) for path in rest_paths)

    batch = jax.tree.map(jnp.asarray, make_batch(examples(3, 4), rows=4, length=16, slots=8))
    loss, _, grads = make_grad_fn(graphdef)(trainable, frozen, batch)
    full_graphdef, everything, none = split_model(model, full=True)
    full_loss, _, full_grads = make_grad_fn(full_graphdef)(everything, none, batch)
    assert float(loss) == pytest.approx(float(full_loss), rel=1e-6)
    full_by_path = dict(nnx.to_flat_state(full_grads))
    for path, grad in nnx.to_flat_state(grads):
        np.testing.assert_allclose(
            np.asarray(grad.get_value()), np.asarray(full_by_path[path].get_value()), rtol=1e-5, atol=1e-7
        )


def test_block_choice_is_refused_for_lora():
    with pytest.raises(ValueError, match="needs full=True"):
        split_model(tiny_model(), full=False, layers=[1])
