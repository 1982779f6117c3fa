"""Mixed-precision matrix products: bfloat16 operands, float32 accumulation and result.

``model.dtype: bfloat16-mixed`` keeps parameters, activations, norms and softmax in float32 and runs the
projections and the LM head through :func:`mixed_dot_general`. On CPUs with AVX512_BF16 (AMD Zen 4, Intel
Cooper Lake and later) XLA:CPU multiplies bfloat16 operands into a float32 accumulator about twice as fast as
float32 operands, while a product whose *result* is bfloat16 (``model.dtype: bfloat16``) is no faster there.

Differentiating the forward cast alone would not do: the transpose of ``convert(x, bfloat16)`` hands the
backward products a float32 cotangent, so JAX runs them in float32. The custom VJP casts the cotangent too, so the
input and weight gradients are bfloat16 x bfloat16 -> float32 products like the forward (the recipe of mixed
precision training: Micikevicius et al. 2018, arXiv 1710.03740).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["MIXED_BFLOAT16", "OPERAND_DTYPE", "mixed_attend", "mixed_dot_general", "mixed_matmul"]

MIXED_BFLOAT16 = "bfloat16-mixed"  # the ``model.dtype`` that selects these products
OPERAND_DTYPE = jnp.bfloat16


Contraction = tuple[tuple[int, ...], tuple[int, ...]]


def _product(lhs: jax.Array, rhs: jax.Array, contract: Contraction, batch: int) -> jax.Array:
    axes = tuple(range(batch))
    return lax.dot_general(
        lhs.astype(OPERAND_DTYPE),
        rhs.astype(OPERAND_DTYPE),
        (contract, (axes, axes)),
        preferred_element_type=jnp.float32,
    )


def _batch_axes(x: jax.Array, w: jax.Array) -> int:
    """Leading axes the product is batched over: none for a 2-D ``w``, all but the last two for ``w`` of x's rank."""
    if w.ndim == 2:
        return 0
    if w.ndim == x.ndim and x.shape[:-2] == w.shape[:-2]:
        return x.ndim - 2
    raise ValueError(f"mixed_matmul takes x[..., k] @ w[k, n] or x[*b, m, k] @ w[*b, k, n]; got {x.shape} @ {w.shape}")


@jax.custom_vjp
def mixed_matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w`` with bfloat16 operands and a float32 result and accumulator.

    Either a shared weight (``x`` ``[..., k]``, ``w`` ``[k, n]``: a linear layer) or a batched product (``x``
    ``[*b, m, k]``, ``w`` ``[*b, k, n]``: attention). Gradients are float32 in the inputs' dtypes, computed by
    bfloat16 x bfloat16 -> float32 products.

    >>> import jax.numpy as jnp
    >>> mixed_matmul(jnp.ones((2, 3)), jnp.full((3, 4), 0.5)).dtype
    dtype('float32')
    """
    batch = _batch_axes(x, w)
    return _product(x, w, ((x.ndim - 1,), (batch,)), batch)


def _forward(x: jax.Array, w: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return mixed_matmul(x, w), (x, w)


def _backward(residuals: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, w = residuals
    batch = _batch_axes(x, w)
    grad_x = _product(g, w, ((g.ndim - 1,), (w.ndim - 1,)), batch)  # [*b, ..., n] x [*b, k, n] -> [*b, ..., k]
    # A shared weight sums over every leading axis of x; a batched one over the rows only. Dead code for frozen w.
    rows = tuple(range(batch, x.ndim - 1))
    grad_w = _product(x, g, (rows, rows), batch)  # [*b, ..., k] x [*b, ..., n] -> [*b, k, n]
    return grad_x.astype(x.dtype), grad_w.astype(w.dtype)


mixed_matmul.defvjp(_forward, _backward)


@jax.custom_vjp
def mixed_attend(x: jax.Array, embedding: jax.Array) -> jax.Array:
    """``x @ embedding.T`` (a tied LM head: ``x`` ``[..., d]``, ``embedding`` ``[vocab, d]``) as :func:`mixed_matmul`.

    Not ``mixed_matmul(x, embedding.T)``: the transpose of that product's weight gradient is fused into the product
    by XLA:CPU, which then hands it to a kernel without bfloat16 x bfloat16 -> float32 (``Unsupported element type
    for DotThunk::Execute``), so training the embeddings in mixed precision failed. Here the weight gradient is
    produced in the embedding's own ``[vocab, d]`` layout.

    >>> import jax.numpy as jnp
    >>> mixed_attend(jnp.ones((2, 3)), jnp.full((5, 3), 0.5)).shape
    (2, 5)
    """
    return _product(x, embedding, ((x.ndim - 1,), (1,)), 0)


def _attend_forward(x: jax.Array, embedding: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return mixed_attend(x, embedding), (x, embedding)


def _attend_backward(residuals: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, embedding = residuals
    grad_x = _product(g, embedding, ((g.ndim - 1,), (0,)), 0)  # [..., vocab] x [vocab, d] -> [..., d]
    rows = tuple(range(x.ndim - 1))
    grad_embedding = _product(g, x, (rows, rows), 0)  # [..., vocab] x [..., d] -> [vocab, d]
    return grad_x.astype(x.dtype), grad_embedding.astype(embedding.dtype)


mixed_attend.defvjp(_attend_forward, _attend_backward)


def mixed_dot_general(
    lhs: jax.Array,
    rhs: jax.Array,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
    out_sharding: Any = None,
) -> jax.Array:
    """A ``lax.dot_general`` for ``nnx.Linear(dot_general=...)`` that runs :func:`mixed_matmul`.

    Only the linear layer's contraction (the last axis of ``lhs`` with the first of a 2-D ``rhs``, no batch axes)
    is supported; ``precision`` and ``preferred_element_type`` are ignored (the result is float32) and
    ``out_sharding`` must be ``None``.

    Raises:
        ValueError: Another contraction, or an output sharding.
    """
    del precision, preferred_element_type
    (contract_lhs, contract_rhs), (batch_lhs, batch_rhs) = dimension_numbers
    linear = (
        rhs.ndim == 2
        and tuple(contract_lhs) == (lhs.ndim - 1,)
        and tuple(contract_rhs) == (0,)
        and not batch_lhs
        and not batch_rhs
    )
    if not linear or out_sharding is not None:
        raise ValueError(
            f"mixed_dot_general supports x[..., k] @ w[k, n] only; got shapes {lhs.shape} x {rhs.shape}, "
            f"dimension numbers {dimension_numbers}, out_sharding {out_sharding}"
        )
    return mixed_matmul(lhs, rhs)
