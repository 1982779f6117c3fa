"""Mixed precision (model.dtype: bfloat16-mixed): products of bfloat16-rounded operands, accumulated in float32."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from conftest import forward, random_model
from flax import nnx

from econalign.model.llama import LlamaConfig
from econalign.model.lora import apply_lora, merge_lora
from econalign.model.params import load_into, to_hf_tensors
from econalign.model.precision import MIXED_BFLOAT16, mixed_attend, mixed_dot_general, mixed_matmul


def _rounded(x) -> np.ndarray:
    """``x`` rounded to bfloat16 and widened to float64: what the products multiply."""
    return np.asarray(x).astype(ml_dtypes.bfloat16).astype(np.float64)


SHAPES = [
    ((5, 7), (7, 3)),  # a linear layer on a matrix
    ((2, 5, 7), (7, 3)),  # on a batch of sequences: the weight gradient sums over both leading axes
    ((2, 4, 5, 7), (2, 4, 7, 3)),  # attention: batched over [B, K]
]


@pytest.mark.parametrize(("x_shape", "w_shape"), SHAPES)
def test_product_and_gradients_equal_float64_products_of_rounded_operands(x_shape, w_shape):
    rng = np.random.default_rng(0)
    x, w = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in (x_shape, w_shape))
    out, vjp = jax.vjp(mixed_matmul, x, w)
    g = jnp.asarray(rng.normal(size=out.shape), jnp.float32)
    grad_x, grad_w = vjp(g)
    xr, wr, gr = _rounded(x), _rounded(w), _rounded(g)
    if len(w_shape) == 2:  # a shared weight: its gradient sums over every leading axis
        want_w = xr.reshape(-1, xr.shape[-1]).T @ gr.reshape(-1, gr.shape[-1])
    else:
        want_w = np.swapaxes(xr, -1, -2) @ gr
    for got, want in ((out, xr @ wr), (grad_x, gr @ np.swapaxes(wr, -1, -2)), (grad_w, want_w)):
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)  # float32 accumulation
    # ... and the rounding is real: float32 operands give a visibly different product.
    assert np.abs(np.asarray(out) - np.asarray(x, np.float64) @ np.asarray(w, np.float64)).max() > 1e-3


def test_tied_head_product_and_gradients_equal_float64_products_of_rounded_operands():
    rng = np.random.default_rng(1)
    x, embedding = (
        jnp.asarray(rng.normal(size=(2, 3, 8)), jnp.float32),
        jnp.asarray(rng.normal(size=(16, 8)), jnp.float32),
    )
    # Compiled: the embedding gradient of mixed_matmul(x, embedding.T) failed only under jit on CPU (a fused transpose).
    out, vjp = jax.jit(lambda x, e: jax.vjp(mixed_attend, x, e))(x, embedding)
    g = jnp.asarray(rng.normal(size=out.shape), jnp.float32)
    grad_x, grad_embedding = jax.jit(vjp)(g)
    xr, er, gr = _rounded(x), _rounded(embedding), _rounded(g)
    want_embedding = gr.reshape(-1, 16).T @ xr.reshape(-1, 8)
    for got, want in ((out, xr @ er.T), (grad_x, gr @ er), (grad_embedding, want_embedding)):
        assert got.dtype == jnp.float32 and got.shape == want.shape
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def _products(fn, *args) -> list[tuple[str, str]]:
    """Operand dtypes of every dot_general in the jaxpr of ``fn(*args)``, custom-VJP rules included."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                found.append(tuple(str(v.aval.dtype) for v in eqn.invars))
            for param in eqn.params.values():
                for sub in param if isinstance(param, (list, tuple)) else [param]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def test_backward_products_take_bfloat16_operands():
    # Differentiating the forward cast alone would run the backward products in float32 (the reason for the VJP).
    x, w = jnp.ones((4, 6)), jnp.ones((6, 3))
    products = _products(jax.grad(lambda x, w: jnp.sum(mixed_matmul(x, w) ** 2), argnums=(0, 1)), x, w)
    assert len(products) == 3 and set(products) == {("bfloat16", "bfloat16")}


def test_dot_general_rejects_what_a_linear_layer_does_not_do():
    x = jnp.ones((2, 3, 4))
    assert mixed_dot_general(x, jnp.ones((4, 5)), (((2,), (0,)), ((), ()))).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="supports x"):
        mixed_dot_general(x, jnp.ones((3, 5)), (((1,), (0,)), ((), ())))
    with pytest.raises(ValueError, match="mixed_matmul takes"):
        mixed_matmul(x, jnp.ones((3, 4, 5)))


def _model_pair(**overrides):
    full = random_model(LlamaConfig(2, 50, 32, 64, 4, 2, 8, **overrides), scale=0.1)
    mixed = load_into(dataclasses.replace(full.config, dtype=MIXED_BFLOAT16), to_hf_tensors(full))
    return full, mixed


@pytest.mark.parametrize("tied", [True, False])
def test_mixed_model_keeps_float32_weights_and_runs_every_product_in_bfloat16(tied):
    full, mixed = _model_pair(tie_word_embeddings=tied, attention_bias=True)
    assert mixed.config.jnp_dtype == jnp.float32 and mixed.config.mixed_precision
    assert {v.dtype for v in jax.tree.leaves(nnx.state(mixed))} == {jnp.dtype(jnp.float32)}
    tokens = jax.random.randint(jax.random.key(0), (2, 9), 0, 50)
    want = np.asarray(forward(full, tokens).logits)
    got = np.asarray(forward(mixed, tokens).logits)
    assert got.dtype == np.float32
    assert 0 < np.abs(got - want).max() < 0.02 * np.abs(want).max()
    # 2 layers x (7 projections + 2 attention products) + the LM head, none of them float32 x float32.
    products = _products(lambda m, t: m(t).logits, mixed, tokens)
    assert len(products) == 19 and set(products) == {("bfloat16", "bfloat16")}
    assert set(_products(lambda m, t: m(t).logits, full, tokens)) == {("float32", "float32")}


def test_mixed_lora_gradients_follow_the_float32_ones_and_merge_keeps_the_precision():
    full, mixed = _model_pair()
    for model in (full, mixed):
        apply_lora(model, rank=4, alpha=8, targets=["q_proj", "v_proj", "down_proj"], rngs=nnx.Rngs(1))
        for _, _, module in _lora_modules(model):
            module.lora_b[...] = jnp.full(module.lora_b[...].shape, 0.05)  # a trained-looking adapter
    tokens = jax.random.randint(jax.random.key(2), (2, 9), 0, 50)

    def grads(model):
        graphdef, lora, rest = nnx.split(model, nnx.LoRAParam, ...)

        def loss(lora):
            logits = nnx.merge(graphdef, lora, rest)(tokens).logits
            return -jnp.mean(jax.nn.log_softmax(logits[:, :-1]).max(-1))

        return jax.grad(loss)(lora)

    flat_full, flat_mixed = (jax.tree.leaves(grads(m)) for m in (full, mixed))
    assert len(flat_full) == len(flat_mixed) == 12
    for a, b in zip(flat_full, flat_mixed, strict=True):
        a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.99
    before = np.asarray(forward(mixed, tokens).logits)
    merge_lora(mixed)
    assert mixed.layers[0].self_attn.q_proj.dot_general is mixed_dot_general
    np.testing.assert_allclose(np.asarray(forward(mixed, tokens).logits), before, atol=0.05)


@pytest.mark.parametrize("tied", [True, False])
def test_full_fine_tuning_gradients_compile_and_follow_the_float32_ones(tied):
    # Every weight trains (method: full), the embeddings of a tied head included: each gradient product must compile
    # on CPU with bfloat16 operands (a transposed tied-head gradient did not: "Unsupported element type for DotThunk").
    full, mixed = _model_pair(tie_word_embeddings=tied)
    tokens = jax.random.randint(jax.random.key(3), (2, 9), 0, 50)

    @jax.jit
    def grads(params, graphdef):
        def loss(params):  # next-token cross-entropy: fixed targets, so both precisions differentiate one loss
            logits = nnx.merge(graphdef, params)(tokens).logits
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits[:, :-1]), tokens[:, 1:, None], -1))

        return jax.grad(loss)(params)

    flat = [jax.tree.leaves(grads(nnx.state(m), nnx.graphdef(m))) for m in (full, mixed)]
    assert len(flat[0]) == len(flat[1]) == len(jax.tree.leaves(nnx.state(full)))
    for a, b in zip(*flat, strict=True):
        a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
        assert b.dtype == np.float32 and np.corrcoef(a, b)[0, 1] > 0.99


def _lora_modules(model):
    from econalign.model.lora import lora_layers

    return list(lora_layers(model))
