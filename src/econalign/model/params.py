"""Load HF safetensors checkpoints into :class:`econalign.model.llama.Llama`.

The model is built abstractly with ``nnx.eval_shape`` (no memory, no random init), its state is flattened,
and each checkpoint tensor is routed to its NNX path by a regex table. Every tensor is shape-checked and cast
to the config's dtype; every problem (missing, unexpected, mis-shaped tensors) is collected and raised once
in a single :class:`CheckpointError`. Tied checkpoints may or may not carry ``lm_head.weight``; it is ignored
when the config ties embeddings.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from econalign.model.llama import Llama, LlamaConfig


class Transform(enum.Enum):
    """How an HF tensor becomes an NNX parameter."""

    NONE = "none"
    TRANSPOSE = "transpose"  # HF linear weights are [out, in]; nnx.Linear kernels are [in, out]


# HF key -> (NNX path template, transform). Group references fill in the layer index and module names.
KEY_MAP: tuple[tuple[str, str, Transform], ...] = (
    (r"model\.embed_tokens\.weight", "embed_tokens.embedding", Transform.NONE),
    (r"model\.norm\.weight", "norm.weight", Transform.NONE),
    (r"lm_head\.weight", "lm_head.kernel", Transform.TRANSPOSE),
    (
        r"model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)\.weight",
        r"layers.\1.\2.\3.kernel",
        Transform.TRANSPOSE,
    ),
    (r"model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)\.bias", r"layers.\1.\2.\3.bias", Transform.NONE),
    (
        r"model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight",
        r"layers.\1.\2.weight",
        Transform.NONE,
    ),
)
# Buffers some checkpoints carry that the model recomputes.
IGNORED = (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",)


class CheckpointError(ValueError):
    """A checkpoint does not match the model; ``problems`` lists every mismatch."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        listing = "\n  ".join(problems)
        super().__init__(f"{source}: {len(problems)} problem(s) loading the checkpoint:\n  {listing}")


def map_key(hf_key: str) -> tuple[str, Transform] | None:
    """Map an HF tensor name to its NNX path (dot-joined) and transform.

    Args:
        hf_key: e.g. ``model.layers.3.self_attn.q_proj.weight``.

    Returns:
        ``("layers.3.self_attn.q_proj.kernel", Transform.TRANSPOSE)``, or ``None`` for an unknown key.
    """
    for pattern, template, transform in KEY_MAP:
        match = re.fullmatch(pattern, hf_key)
        if match:
            return match.expand(template), transform
    return None


def load_llama(model_dir: str | Path, *, dtype: str = "float32") -> Llama:
    """Build a :class:`Llama` from an HF-layout directory (``config.json`` + safetensors).

    Args:
        model_dir: Directory with ``config.json`` and ``model.safetensors`` or a sharded index.
        dtype: The model's precision (``"float32"``, ``"bfloat16"`` or ``"bfloat16-mixed"``, :class:`LlamaConfig`);
            it also sets the process's matmul precision (:func:`econalign.model.runtime.set_matmul_precision`), so
            that float32 means float32 products on GPUs too, and warns where a bfloat16 precision would be emulated
            (:func:`econalign.model.runtime.warn_if_emulated_bfloat16`).

    Returns:
        The model with the checkpoint's weights.

    Raises:
        CheckpointError: Missing, unexpected or mis-shaped tensors (all listed).
    """
    from econalign.model.runtime import set_matmul_precision, warn_if_emulated_bfloat16

    set_matmul_precision(dtype)
    warn_if_emulated_bfloat16(dtype)
    model_dir = Path(model_dir)
    config = LlamaConfig.from_hf_config(json.loads((model_dir / "config.json").read_text()), dtype=dtype)
    return load_into(config, dict(iter_safetensors(model_dir)), source=str(model_dir))


def iter_safetensors(model_dir: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, array)`` for every tensor of a single-file or sharded safetensors checkpoint.

    Args:
        model_dir: The checkpoint directory.

    Yields:
        Tensor name and its array (JAX, so bfloat16 checkpoints load too).
    """
    from safetensors import safe_open

    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for name in files:
        with safe_open(model_dir / name, framework="flax") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                yield key, handle.get_tensor(key)


def load_into(config: LlamaConfig, tensors: Mapping[str, Any], *, source: str = "checkpoint") -> Llama:
    """Fill an abstract :class:`Llama` with HF-named tensors.

    Args:
        config: Model config (its dtype decides the parameter dtype).
        tensors: HF tensor name -> array.
        source: Name used in error messages.

    Returns:
        The model.

    Raises:
        CheckpointError: Missing, unexpected or mis-shaped tensors (all listed).
    """
    abstract = nnx.eval_shape(lambda: Llama(config, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    targets = {".".join(str(part) for part in path): var for path, var in nnx.to_flat_state(state)}
    problems: list[str] = []
    filled: dict[str, Any] = {}
    for key, array in tensors.items():
        mapped = map_key(key)
        if mapped is None:
            if not any(re.fullmatch(pattern, key) for pattern in IGNORED):
                problems.append(f"unexpected tensor {key} {tuple(array.shape)}")
            continue
        path, transform = mapped
        if path == "lm_head.kernel" and config.tie_word_embeddings:
            continue
        if path not in targets:
            problems.append(f"unexpected tensor {key} {tuple(array.shape)} (no parameter {path})")
            continue
        value = jnp.asarray(array)
        if transform is Transform.TRANSPOSE:
            value = value.T
        expected = tuple(targets[path].shape)
        filled[path] = None  # present, even if unusable: report it once, as mis-shaped, not also as missing
        if tuple(value.shape) != expected:
            problems.append(f"{key}: shape {tuple(array.shape)} does not fit {path} {expected} ({transform.value})")
            continue
        filled[path] = value.astype(config.jnp_dtype)
    problems += [f"missing tensor for {path} {tuple(var.shape)}" for path, var in targets.items() if path not in filled]
    if problems:
        raise CheckpointError(source, problems)
    for path, var in targets.items():
        var.set_value(filled[path])
    return nnx.merge(graphdef, state)


def to_hf_tensors(model: Llama) -> dict[str, np.ndarray]:
    """Export a model's base parameters under HF names and layouts (the inverse of :func:`load_into`).

    LoRA parameters (``nnx.LoRAParam``) are left out: adapters are exported in PEFT layout elsewhere.

    Args:
        model: The model.

    Returns:
        HF tensor name -> C-contiguous numpy array (``[out, in]`` linear weights).
    """
    base = nnx.All(nnx.Param, nnx.Not(nnx.LoRAParam))
    out: dict[str, np.ndarray] = {}
    for path, var in nnx.to_flat_state(nnx.state(model, base)):
        *module, leaf = (str(part) for part in path)
        value = np.asarray(var.get_value())
        if leaf == "kernel":
            # C-ordered copies, not transposed views: safetensors writes an array's memory as it lies.
            value = np.ascontiguousarray(value.T)
        name = ".".join([*module, "bias" if leaf == "bias" else "weight"])
        out[name if name.startswith("lm_head") else f"model.{name}"] = value
    return out
