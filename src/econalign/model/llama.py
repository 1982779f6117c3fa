"""The Llama family (Llama 2/3.x, SmolLM2, Qwen2/2.5, Mistral) in Flax NNX.

One decoder architecture covers the three HF ``model_type`` values through :class:`LlamaConfig` flags:
GQA attention with RoPE (optionally Llama 3.x ``llama3`` or ``linear`` frequency scaling), RMSNorm, SwiGLU
MLP, tied or untied embeddings, q/k/v biases (Qwen2), Mistral's sliding window (query ``t`` sees keys ``s`` with
``t - window < s <= t``; Qwen2's per-layer windows are refused at load).

Module and parameter names follow HF, so a checkpoint key maps almost one to one (see
:mod:`econalign.model.params`): ``embed_tokens``, ``layers[i].self_attn.{q,k,v,o}_proj``,
``layers[i].mlp.{gate,up,down}_proj``, ``layers[i].input_layernorm``, ``layers[i].post_attention_layernorm``,
``norm`` and, when untied, ``lm_head``. Linear kernels are stored ``[in, out]`` (HF stores ``[out, in]``).

Forward::

    out = model(tokens, positions, mask=mask, cache=cache, logits_at=logits_at)
    out.logits  # [B, P, V] float32 (P = T when logits_at is None)
    out.kv      # KVCache of this call's tokens, k and v each [L, B, K, T, H] (keys after RoPE)

* ``tokens`` ``[B, T]`` int32; ``positions`` ``[B, T]`` int32 RoPE positions (default ``arange(T)``, shifted
  by the cache length). Left or right padding, packing and option trees are all expressed by positions plus
  the mask.
* ``mask`` ``[B, T, S]`` bool, ``S = S_cache + T``: whether query ``t`` sees key ``s``; the first ``S_cache``
  keys are the cache's, the rest this call's tokens. Default: every cache slot plus causal attention within
  the call. Build common masks with :func:`causal_mask` and :func:`segment_mask`.
* ``cache`` a :class:`KVCache` ``[L, Bc, K, S_cache, H]`` read (never written) by this call, with ``Bc`` equal
  to ``B`` or 1 (one shared prefix broadcast over the batch, as in prompt-prefix reuse).
* ``write_at`` (decoding): the cache is a :class:`DecodeBuffer` of fixed-size per-layer buffers; the call writes
  its keys and values into them at slot ``write_at``, attends over the buffers only (``mask`` ``[B, T, S]``)
  and returns the updated buffers as ``out.kv``. Donated to a jitted step, the buffers are updated in place.
* ``logits_at`` ``[B, P]`` int32 indices into ``T``: the LM head runs only there (scoring a few option tokens,
  or the training loss on answer tokens), which saves the ``[B, T, V]`` logits; the last block, too, runs its
  queries, attention output and MLP only there (its keys and values cover every position).
* ``output_hidden_states=True`` also returns the embedding output and each layer's output (the last normed).

LoRA: every projection is an ``nnx.Linear`` held under its HF name, so an adapter wraps it in place, e.g.
``layer.self_attn.q_proj = nnx.LoRALinear(d, n * h, lora_rank=r, rngs=rngs)`` after copying the kernel, or
``nnx.LoRA(..., base_module=layer.self_attn.q_proj)``; iterate ``model.layers`` and ``("self_attn", "q_proj")``
style paths (see :data:`PROJECTIONS`).

References:
    Touvron et al. 2023, "Llama 2" (arXiv 2307.09288); Su et al. 2021, "RoFormer" (arXiv 2104.09864);
    Ainslie et al. 2023, "GQA" (arXiv 2305.13245); HF ``modeling_llama.py`` (``_compute_llama3_parameters``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from econalign.model.precision import MIXED_BFLOAT16, mixed_attend, mixed_dot_general, mixed_matmul

Array = jax.Array

# (submodule, projection) of every linear layer of a decoder block, HF names: the LoRA targets.
PROJECTIONS: dict[str, tuple[str, str]] = {
    "q_proj": ("self_attn", "q_proj"),
    "k_proj": ("self_attn", "k_proj"),
    "v_proj": ("self_attn", "v_proj"),
    "o_proj": ("self_attn", "o_proj"),
    "gate_proj": ("mlp", "gate_proj"),
    "up_proj": ("mlp", "up_proj"),
    "down_proj": ("mlp", "down_proj"),
}
SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "mistral")
# What a config.json that leaves a key out means: transformers' LlamaConfig defaults (from_hf_config). The dataclass
# defaults below equal them except rms_norm_eps, 1e-5 in code as SmolLM2 and Llama 3 use it.
HF_DEFAULT_ROPE_THETA = 10000.0
HF_DEFAULT_RMS_NORM_EPS = 1e-6
HF_DEFAULT_MAX_POSITION_EMBEDDINGS = 2048
# Parameter and activation dtype of each ``dtype`` name; "bfloat16-mixed" keeps them in float32 and multiplies in
# bfloat16 (econalign.model.precision).
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16, MIXED_BFLOAT16: jnp.float32}


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    """RoPE frequency scaling (HF ``rope_scaling``).

    Attributes:
        rope_type: ``"llama3"`` (Llama 3.1+ wavelength-dependent scaling) or ``"linear"`` (positions / factor).
        factor: Scaling factor.
        low_freq_factor: ``llama3`` only.
        high_freq_factor: ``llama3`` only.
        original_max_position_embeddings: ``llama3`` only: the pre-training context length.
    """

    rope_type: str
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """Hyperparameters of a Llama-family decoder.

    Attributes:
        num_layers: Decoder blocks.
        vocab_size: Embedding rows.
        hidden_size: Model width D.
        intermediate_size: SwiGLU width.
        num_heads: Query heads N.
        num_kv_heads: Key/value heads K (N must be a multiple).
        head_dim: H.
        rope_theta: RoPE base.
        rope_scaling: Optional frequency scaling.
        rms_norm_eps: RMSNorm epsilon.
        tie_word_embeddings: LM head shares the embedding matrix.
        attention_bias: Biases on q, k, v (Qwen2, or Llama with ``attention_bias``).
        output_bias: Bias on o_proj (Llama with ``attention_bias``; not Qwen2).
        mlp_bias: Biases on gate, up, down.
        max_position_embeddings: Context length the checkpoint was trained for (informational).
        sliding_window: Attention window of every layer (Mistral), or None for full attention.
        model_type: HF ``model_type`` the config came from.
        dtype: Parameter and activation dtype: ``"float32"`` or ``"bfloat16"`` (norms and softmax run in float32);
            ``"bfloat16-mixed"``: float32 parameters and activations, projections and LM head multiplied with
            bfloat16 operands into float32 (:mod:`econalign.model.precision`).
    """

    num_layers: int
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rope_theta: float = HF_DEFAULT_ROPE_THETA
    rope_scaling: RopeScaling | None = None
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    output_bias: bool = False
    mlp_bias: bool = False
    max_position_embeddings: int = HF_DEFAULT_MAX_POSITION_EMBEDDINGS
    sliding_window: int | None = None
    model_type: str = "llama"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads={self.num_heads} is not a multiple of num_kv_heads={self.num_kv_heads}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {sorted(_DTYPES)}")

    @property
    def jnp_dtype(self) -> Any:
        """The JAX dtype of parameters and activations."""
        return _DTYPES[self.dtype]

    @property
    def mixed_precision(self) -> bool:
        """Whether the projections and the LM head multiply bfloat16 operands into float32."""
        return self.dtype == MIXED_BFLOAT16

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any], *, dtype: str = "float32") -> LlamaConfig:
        """Build a config from an HF ``config.json`` dict (model_type llama, qwen2 or mistral).

        Args:
            config: The parsed ``config.json``; transformers v4 (``rope_theta``/``rope_scaling``) and v5
                (``rope_parameters``) spellings are both accepted.
            dtype: Parameter and activation dtype.

        Returns:
            The config.

        Raises:
            ValueError: Unsupported model type, activation, RoPE scaling or per-layer attention windows.
        """
        model_type = config.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model_type {model_type!r} is not supported (supported: {SUPPORTED_MODEL_TYPES})")
        if config.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {config['hidden_act']!r} is not supported (only 'silu')")
        num_heads = int(config["num_attention_heads"])
        rope = dict(config.get("rope_parameters") or {})
        legacy_scaling = config.get("rope_scaling") or {}
        rope_theta = float(rope.get("rope_theta", config.get("rope_theta", HF_DEFAULT_ROPE_THETA)))
        scaling = {**legacy_scaling, **{k: v for k, v in rope.items() if k != "rope_theta"}}
        qkv_bias = model_type == "qwen2" or bool(config.get("attention_bias", False))
        return cls(
            num_layers=int(config["num_hidden_layers"]),
            vocab_size=int(config["vocab_size"]),
            hidden_size=int(config["hidden_size"]),
            intermediate_size=int(config["intermediate_size"]),
            num_heads=num_heads,
            num_kv_heads=int(config.get("num_key_value_heads") or num_heads),
            head_dim=int(config.get("head_dim") or config["hidden_size"] // num_heads),
            rope_theta=rope_theta,
            rope_scaling=_rope_scaling(scaling),
            rms_norm_eps=float(config.get("rms_norm_eps", HF_DEFAULT_RMS_NORM_EPS)),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            attention_bias=qkv_bias,
            output_bias=model_type != "qwen2" and bool(config.get("attention_bias", False)),
            mlp_bias=bool(config.get("mlp_bias", False)),
            max_position_embeddings=int(config.get("max_position_embeddings", HF_DEFAULT_MAX_POSITION_EMBEDDINGS)),
            sliding_window=_sliding_window(config),
            model_type=model_type,
            dtype=dtype,
        )

    @classmethod
    def smollm2_135m(cls) -> LlamaConfig:
        """SmolLM2-135M(-Instruct), the embedded default (134.5M parameters)."""
        return cls(30, 49152, 576, 1536, 9, 3, 64, rope_theta=100000.0, tie_word_embeddings=True,
                   max_position_embeddings=8192)  # fmt: skip

    @classmethod
    def smollm2_360m(cls) -> LlamaConfig:
        """SmolLM2-360M(-Instruct) (361.8M parameters)."""
        return cls(32, 49152, 960, 2560, 15, 5, 64, rope_theta=100000.0, tie_word_embeddings=True,
                   max_position_embeddings=8192)  # fmt: skip

    @classmethod
    def smollm2_1_7b(cls) -> LlamaConfig:
        """SmolLM2-1.7B(-Instruct) (1.71B parameters)."""
        return cls(24, 49152, 2048, 8192, 32, 32, 64, rope_theta=130000.0, tie_word_embeddings=True,
                   max_position_embeddings=8192)  # fmt: skip

    @classmethod
    def qwen2_5_0_5b(cls) -> LlamaConfig:
        """Qwen2.5-0.5B(-Instruct) (494M parameters)."""
        return cls(24, 151936, 896, 4864, 14, 2, 64, rope_theta=1000000.0, rms_norm_eps=1e-6,
                   tie_word_embeddings=True, attention_bias=True, max_position_embeddings=32768,
                   model_type="qwen2")  # fmt: skip

    @classmethod
    def llama3_2_1b(cls) -> LlamaConfig:
        """Llama-3.2-1B(-Instruct) (1.24B parameters), with llama3 RoPE scaling."""
        scaling = RopeScaling("llama3", 32.0, 1.0, 4.0, 8192)
        return cls(16, 128256, 2048, 8192, 32, 8, 64, rope_theta=500000.0, rope_scaling=scaling,
                   tie_word_embeddings=True, max_position_embeddings=131072)  # fmt: skip


def _rope_scaling(scaling: Mapping[str, Any]) -> RopeScaling | None:
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type in (None, "default"):
        return None
    if rope_type == "linear":
        return RopeScaling("linear", float(scaling["factor"]))
    if rope_type == "llama3":
        return RopeScaling(
            "llama3",
            float(scaling["factor"]),
            float(scaling["low_freq_factor"]),
            float(scaling["high_freq_factor"]),
            int(scaling["original_max_position_embeddings"]),
        )
    raise ValueError(f"rope scaling {rope_type!r} is not supported (only 'llama3', 'linear')")


class KVCache(NamedTuple):
    """Keys (after RoPE) and values of a token span, stacked over layers.

    Attributes:
        k: ``[L, B, K, S, H]``.
        v: ``[L, B, K, S, H]``.
    """

    k: Array
    v: Array


class DecodeBuffer(NamedTuple):
    """Fixed-size key/value buffers written in place while decoding, one array per layer.

    Separate arrays, not one ``[L, ...]`` stack: XLA:CPU copied a stacked buffer twice per step when the step
    both read its layers and wrote the new slot, while a layer's own buffer written first and then read is
    updated in place.

    Attributes:
        k: Per layer ``[B, K, S, H]``.
        v: Per layer ``[B, K, S, H]``.
    """

    k: tuple[Array, ...]
    v: tuple[Array, ...]


class ModelOutput(NamedTuple):
    """What :class:`Llama` returns.

    Attributes:
        logits: ``[B, P, V]`` float32 at ``logits_at`` (or ``[B, T, V]``).
        kv: The call's keys and values, ``[L, B, K, T, H]`` each (with ``write_at``: the updated buffers).
        hidden_states: With ``output_hidden_states``: embedding output, then each block's output (the last one
            after the final norm, as HF reports it), each ``[B, T, D]``; else ``None``.
    """

    logits: Array
    kv: KVCache | DecodeBuffer
    hidden_states: tuple[Array, ...] | None = None


def rope_inv_freq(config: LlamaConfig) -> Array:
    """Inverse RoPE frequencies ``[H / 2]``, with the config's scaling applied.

    Args:
        config: Model config.

    Returns:
        float32 ``[head_dim // 2]``.
    """
    exponents = jnp.arange(0, config.head_dim, 2, dtype=jnp.float32) / config.head_dim
    inv_freq = 1.0 / (config.rope_theta**exponents)
    scaling = config.rope_scaling
    if scaling is None:
        return inv_freq
    if scaling.rope_type == "linear":
        return inv_freq / scaling.factor
    # Llama 3.1: keep high frequencies, divide low ones by `factor`, interpolate smoothly in between.
    low_wavelen = scaling.original_max_position_embeddings / scaling.low_freq_factor
    high_wavelen = scaling.original_max_position_embeddings / scaling.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = jnp.where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq)
    smooth = (scaling.original_max_position_embeddings / wavelen - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return jnp.where(medium, smoothed, scaled)


def rope_tables(positions: Array, inv_freq: Array) -> tuple[Array, Array]:
    """Cosine and sine tables for the given positions.

    Args:
        positions: ``[B, T]`` int.
        inv_freq: ``[H / 2]``.

    Returns:
        ``(cos, sin)``, each float32 ``[B, T, H / 2]``.
    """
    angles = positions.astype(jnp.float32)[..., None] * inv_freq  # [B, T, H/2]
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: Array, cos: Array, sin: Array) -> Array:
    """Rotate ``x`` ``[B, T, heads, H]`` by position, HF's half-split ("rotate_half") convention."""
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def _sliding_window(config: Mapping[str, Any]) -> int | None:
    """The attention window shared by every layer, from an HF config; None for full attention.

    Mistral windows every layer (``sliding_window``, null in its later releases). Qwen2 windows only the layers
    from ``max_window_layers`` on, and only with ``use_sliding_window`` (transformers v5 spells the result out as
    ``layer_types``): a mix of windowed and full layers is refused rather than run as either.
    """
    window = config.get("sliding_window")
    if config.get("model_type") == "qwen2" and not config.get("use_sliding_window", False):
        return None
    layers = int(config["num_hidden_layers"])
    kinds = config.get("layer_types")
    if kinds is None and config.get("model_type") == "qwen2":
        first = int(config.get("max_window_layers", layers))
        kinds = ["full_attention"] * min(first, layers) + ["sliding_attention"] * max(layers - first, 0)
    if kinds is not None and window is not None:
        if set(kinds) == {"full_attention"}:
            return None
        if set(kinds) != {"sliding_attention"}:
            raise ValueError(
                f"per-layer attention windows are not supported ({kinds.count('sliding_attention')} of {len(kinds)} "
                f"layers use a sliding window of {window}); set use_sliding_window false to run full attention"
            )
    return None if window is None else int(window)


def _window_mask(window: int, positions: Array, s_cache: int, write_at: Array | None, keys: int) -> Array:
    """``[B or 1, T, S]``: key ``s`` lies within ``window`` tokens of query ``t`` (the mask keeps causality).

    A prefix cache holds positions ``0 .. S_cache - 1`` in its slots, so key positions are the cache slots followed
    by this call's positions. Decode buffers hold each row at its slot, offset by that row's left padding for
    queries and keys alike, so slot distances are position distances.
    """
    if write_at is not None:
        query = write_at + jnp.arange(positions.shape[1])[None, :]  # [1, T]
        key = jnp.arange(keys)[None, :]
    else:
        cached = jnp.broadcast_to(jnp.arange(s_cache, dtype=positions.dtype), (positions.shape[0], s_cache))
        query, key = positions, jnp.concatenate([cached, positions], axis=1)
    return query[:, :, None] - key[:, None, :] < window


def causal_mask(valid: Array) -> Array:
    """Causal attention among valid tokens (left or right padding).

    Args:
        valid: ``[B, T]`` bool, False at padding.

    Returns:
        ``[B, T, T]`` bool: query ``t`` sees key ``s <= t`` when ``s`` is valid.
    """
    t = valid.shape[-1]
    return jnp.tril(jnp.ones((t, t), dtype=bool))[None] & valid[:, None, :]


def segment_mask(segment_ids: Array) -> Array:
    """Causal attention within packed segments; segment 0 is padding.

    Args:
        segment_ids: ``[B, T]`` int, the segment of each token (0 = padding).

    Returns:
        ``[B, T, T]`` bool.
    """
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    return causal_mask(segment_ids > 0) & same


def positions_from_valid(valid: Array) -> Array:
    """RoPE positions that skip padding (0 at each sequence's first valid token).

    Args:
        valid: ``[B, T]`` bool.

    Returns:
        ``[B, T]`` int32 (padding gets 0).
    """
    return jnp.maximum(jnp.cumsum(valid.astype(jnp.int32), axis=-1) - 1, 0)


class RMSNorm(nnx.Module):
    """Root-mean-square norm with a learned scale, computed in float32 (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, *, eps: float, dtype: Any):
        self.weight = nnx.Param(jnp.ones((dim,), dtype=dtype))
        self.eps = eps

    def __call__(self, x: Array) -> Array:
        """Normalise the last axis of ``x`` and scale it."""
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return self.weight[...] * normed.astype(x.dtype)


def _linear(d_in: int, d_out: int, *, bias: bool, config: LlamaConfig, rngs: nnx.Rngs) -> nnx.Linear:
    dtype = config.jnp_dtype
    init = nnx.initializers.normal(0.02)
    product = mixed_dot_general if config.mixed_precision else jax.lax.dot_general
    return nnx.Linear(
        d_in, d_out, use_bias=bias, dtype=dtype, param_dtype=dtype, kernel_init=init, dot_general=product, rngs=rngs
    )


class Attention(nnx.Module):
    """Grouped-query self-attention with RoPE, reading an optional key/value cache."""

    def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
        d, n, k, h = config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim
        self.q_proj = _linear(d, n * h, bias=config.attention_bias, config=config, rngs=rngs)
        self.k_proj = _linear(d, k * h, bias=config.attention_bias, config=config, rngs=rngs)
        self.v_proj = _linear(d, k * h, bias=config.attention_bias, config=config, rngs=rngs)
        self.o_proj = _linear(n * h, d, bias=config.output_bias, config=config, rngs=rngs)
        self.num_heads, self.num_kv_heads, self.head_dim = n, k, h
        self.matmul = mixed_matmul if config.mixed_precision else jnp.matmul

    def __call__(
        self,
        x: Array,
        cos: Array,
        sin: Array,
        mask: Array,
        cache: tuple[Array, Array] | None,
        write_at: Array | None = None,
        query_at: Array | None = None,
    ) -> tuple[Array, tuple[Array, Array]]:
        """Attend; returns the output ``[B, T, D]`` and this call's ``(k, v)``, each ``[B, K, T, H]``.

        With ``write_at``, ``cache`` is this layer's decode buffer pair ``[B, K, S, H]``: ``(k, v)`` are written
        at that slot, attention runs over the buffers, and the updated buffers are returned instead. With
        ``query_at`` ``[B, P]``, only those positions query (keys and values still cover all ``T``): the output is
        ``[B, P, D]``.
        """
        b, t, _ = x.shape
        n, kh, h = self.num_heads, self.num_kv_heads, self.head_dim
        g = n // kh
        x_q, cos_q, sin_q = x, cos, sin
        if query_at is not None:
            x_q, cos_q, sin_q = (_rows(a, query_at) for a in (x, cos, sin))
            mask = _rows(mask, query_at)
        t_q = x_q.shape[1]
        q = apply_rope(self.q_proj(x_q).reshape(b, t_q, n, h), cos_q, sin_q)  # [B, Tq, N, H]
        k = apply_rope(self.k_proj(x).reshape(b, t, kh, h), cos, sin)  # [B, T, K, H]
        v = self.v_proj(x).reshape(b, t, kh, h)  # [B, T, K, H]
        # Head-major layouts turn GQA into plain batched matmuls over [B, K]; on CPU that is ~3x faster
        # than a 5-axis einsum, which XLA lowers with extra transposes.
        q = q.reshape(b, t_q, kh, g, h).transpose(0, 2, 3, 1, 4).reshape(b, kh, g * t_q, h)  # [B, K, G*Tq, H]
        q = q * jnp.asarray(h**-0.5, q.dtype)
        k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)  # [B, K, T, H]
        if write_at is not None:
            k = jax.lax.dynamic_update_slice_in_dim(cache[0], k.astype(cache[0].dtype), write_at, axis=2)
            v = jax.lax.dynamic_update_slice_in_dim(cache[1], v.astype(cache[1].dtype), write_at, axis=2)
            cache = None  # [B, K, S, H]: the buffers are now this call's keys and values
        # The cache's keys are scored as their own block and never joined to this call's: joining a per-row cache
        # by concatenation made XLA:CPU compile each scoring shape ~2x slower, and joining a cache shared by the
        # batch would copy it B times.
        scores = self.matmul(q, k.swapaxes(-1, -2))  # [B, K, G*Tq, T]
        s_cache = 0 if cache is None else cache[0].shape[-2]
        if cache is not None:
            cached_scores = _cache_product(q, cache[0].swapaxes(-1, -2), self.matmul)  # [B, K, G*Tq, S_cache]
            scores = jnp.concatenate([cached_scores, scores], axis=-1)  # [B, K, G*Tq, S]
        scores = scores.reshape(b, kh, g, t_q, -1).astype(jnp.float32)  # [B, K, G, Tq, S]
        scores = jnp.where(mask[:, None, None], scores, jnp.finfo(jnp.float32).min)
        probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype).reshape(b, kh, g * t_q, -1)  # [B, K, G*Tq, S]
        out = self.matmul(probs[..., s_cache:], v)  # [B, K, G*Tq, H]
        if cache is not None:
            out = out + _cache_product(probs[..., :s_cache], cache[1], self.matmul)
        out = out.reshape(b, kh, g, t_q, h).transpose(0, 3, 1, 2, 4).reshape(b, t_q, n * h)  # [B, Tq, N*H]
        return self.o_proj(out), (k, v)


def _rows(x: Array, index: Array) -> Array:
    """Rows ``index`` ``[B, P]`` of ``x`` ``[B, T, ...]`` along axis 1."""
    return jnp.take_along_axis(x, index.astype(jnp.int32).reshape(*index.shape, *([1] * (x.ndim - 2))), axis=1)


def _cache_product(x: Array, cached: Array, matmul: Any = jnp.matmul) -> Array:
    """``matmul(x, cached)`` for ``x`` ``[B, K, M, A]`` and a cache ``[Bc, K, A, C]`` with ``Bc`` equal to ``B`` or 1.

    A cache shared by the batch (``Bc = 1``) is not materialised B times: the batch is folded into the rows.
    """
    b, kh, m, a = x.shape
    if cached.shape[0] == b:
        return matmul(x, cached)
    rows = matmul(x.transpose(1, 0, 2, 3).reshape(kh, b * m, a), cached[0])  # [K, B*M, C]
    return rows.reshape(kh, b, m, -1).transpose(1, 0, 2, 3)


class MLP(nnx.Module):
    """SwiGLU feed-forward block (Shazeer 2020, arXiv 2002.05202)."""

    def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
        d, f = config.hidden_size, config.intermediate_size
        self.gate_proj = _linear(d, f, bias=config.mlp_bias, config=config, rngs=rngs)
        self.up_proj = _linear(d, f, bias=config.mlp_bias, config=config, rngs=rngs)
        self.down_proj = _linear(f, d, bias=config.mlp_bias, config=config, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        """``down(silu(gate(x)) * up(x))``."""
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nnx.Module):
    """Pre-norm block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
        dtype = config.jnp_dtype
        self.input_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps, dtype=dtype)
        self.self_attn = Attention(config, rngs=rngs)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps, dtype=dtype)
        self.mlp = MLP(config, rngs=rngs)

    def __call__(
        self,
        x: Array,
        cos: Array,
        sin: Array,
        mask: Array,
        cache: tuple[Array, Array] | None,
        write_at: Array | None = None,
        query_at: Array | None = None,
    ) -> tuple[Array, tuple[Array, Array]]:
        """Run the block; returns ``[B, T, D]`` (``[B, P, D]`` at ``query_at``) and the attention's ``(k, v)``."""
        attn, kv = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, write_at, query_at)
        if query_at is not None:
            x = _rows(x, query_at)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), kv


class Llama(nnx.Module):
    """A Llama-family causal language model; see the module docstring for the forward signature."""

    def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
        dtype = config.jnp_dtype
        self.config = config
        self.embed_tokens = nnx.Embed(
            config.vocab_size,
            config.hidden_size,
            dtype=dtype,
            param_dtype=dtype,
            embedding_init=nnx.initializers.normal(0.02),
            rngs=rngs,
        )
        self.layers = nnx.List([DecoderLayer(config, rngs=rngs) for _ in range(config.num_layers)])
        self.norm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps, dtype=dtype)
        if not config.tie_word_embeddings:
            self.lm_head = _linear(config.hidden_size, config.vocab_size, bias=False, config=config, rngs=rngs)

    def __call__(
        self,
        tokens: Array,
        positions: Array | None = None,
        *,
        mask: Array | None = None,
        cache: KVCache | DecodeBuffer | None = None,
        write_at: Array | None = None,
        logits_at: Array | None = None,
        output_hidden_states: bool = False,
    ) -> ModelOutput:
        """Run the decoder; see the module docstring for shapes and semantics.

        Args:
            tokens: ``[B, T]`` token ids.
            positions: ``[B, T]`` RoPE positions (default: ``arange(T)`` after the cache).
            mask: ``[B, T, S_cache + T]`` bool attention mask (default: all cache slots, causal within the call).
            cache: Keys and values of earlier tokens, ``[L, Bc, K, S_cache, H]`` with ``Bc`` in ``{1, B}``; or,
                with ``write_at``, a :class:`DecodeBuffer`.
            write_at: Slot of the decode buffers where this call's keys and values go; ``mask`` is then
                ``[B, T, S]`` over the buffer slots (the written ones included).
            logits_at: ``[B, P]`` indices into ``T`` where the LM head runs (default: every position).
            output_hidden_states: Also return the embedding output and every block's output.

        Returns:
            A :class:`ModelOutput`.
        """
        b, t = tokens.shape
        if write_at is not None:
            if not isinstance(cache, DecodeBuffer) or mask is None or positions is None:
                raise ValueError("write_at needs a DecodeBuffer cache, positions and a mask over its slots")
            if mask.shape != (b, t, cache.k[0].shape[2]):
                raise ValueError(f"mask has shape {mask.shape}, expected {(b, t, cache.k[0].shape[2])}")
        s_cache = 0 if cache is None or write_at is not None else cache.k.shape[3]
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32) + s_cache, (b, t))
        if mask is None:
            causal = jnp.tril(jnp.ones((t, t), dtype=bool))
            mask = jnp.broadcast_to(
                jnp.concatenate([jnp.ones((t, s_cache), dtype=bool), causal], axis=1), (b, t, s_cache + t)
            )
        if write_at is None and mask.shape != (b, t, s_cache + t):
            raise ValueError(f"mask has shape {mask.shape}, expected {(b, t, s_cache + t)}")
        if self.config.sliding_window is not None:
            mask = mask & _window_mask(self.config.sliding_window, positions, s_cache, write_at, mask.shape[-1])
        cos, sin = rope_tables(positions, rope_inv_freq(self.config))
        with jax.named_scope("embed"):
            x = self.embed_tokens(tokens)  # [B, T, D]
        hidden = [x]
        keys, values = [], []
        # Only the positions of logits_at read the last block's output: its keys and values are computed for every
        # position (the cache needs them), its queries, attention output and MLP only there.
        last_at = logits_at if logits_at is not None and not output_hidden_states else None
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else (cache.k[i], cache.v[i])
            query_at = last_at if i == len(self.layers) - 1 else None
            with jax.named_scope(f"layer_{i}"):
                x, (k, v) = layer(x, cos, sin, mask, layer_cache, write_at, query_at)
            keys.append(k)
            values.append(v)
            hidden.append(x)
        if logits_at is not None and last_at is None:
            x = _rows(x, logits_at)  # [B, P, D]
        with jax.named_scope("lm_head"):
            x = self.norm(x)
            if not self.config.tie_word_embeddings:
                logits = self.lm_head(x)
            elif self.config.mixed_precision:
                logits = mixed_attend(x, self.embed_tokens.embedding[...])
            else:
                logits = self.embed_tokens.attend(x)
        if output_hidden_states:
            hidden[-1] = self.norm(hidden[-1])
        kv: KVCache | DecodeBuffer = (
            DecodeBuffer(tuple(keys), tuple(values))
            if write_at is not None
            else KVCache(jnp.stack(keys), jnp.stack(values))  # [L, B, K, T, H]
        )
        return ModelOutput(logits.astype(jnp.float32), kv, tuple(hidden) if output_hidden_states else None)
