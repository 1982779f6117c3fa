"""Low-rank adapters (LoRA) for the Llama family, and their Hugging Face PEFT file layout.

:func:`apply_lora` replaces the chosen projections of every decoder block by :class:`LoRALinear`, which keeps
the projection's own ``kernel`` (and ``bias``) at the same state path and adds two ``nnx.LoRAParam`` factors,
so base checkpoints still load into a wrapped model and the optimiser selects the adapter by variable type
(``nnx.LoRAParam``), not by name. The update is PEFT's::

    y = x W + (alpha / r) · (x A) B        A: [in, r] (Kaiming-uniform), B: [r, out] (zeros)

so a freshly wrapped model computes exactly what the base model does.

:func:`save_peft_adapter` writes ``adapter_config.json`` and ``adapter_model.safetensors`` with PEFT's key
names (``base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight``, ``[r, in]``; ``lora_B``,
``[out, r]``), loadable by ``peft.PeftModel.from_pretrained`` on top of the HF base checkpoint.
:func:`load_peft_adapter` reads such a folder (ours or one made by PEFT) back into an NNX model, merged into
the base weights by default (inference then costs what the base model costs).

A folder produced by full fine-tuning holds an HF checkpoint (``config.json`` + ``model.safetensors``)
instead of an adapter; :func:`load_peft_adapter` loads its weights in place, so callers need not care
which kind of fine-tuning made it.

References:
    Hu et al. 2021, "LoRA: Low-rank adaptation of large language models" (arXiv 2106.09685).
    Hugging Face PEFT, ``peft/tuners/lora/layer.py`` (initialisation, scaling) and ``utils/save_and_load.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from econalign.model.llama import PROJECTIONS, Llama

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PEFT_PREFIX = "base_model.model.model.layers"
_PEFT_KEY = re.compile(
    r"base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)\.lora_([AB])(?:\.default)?\.weight"
)


class LoRALinear(nnx.Module):
    """A linear layer plus a trainable low-rank update, ``y = x W + b + (alpha / r) (x A) B``.

    The base ``kernel`` ``[in, out]`` and ``bias`` are the wrapped layer's own variables (same state path as an
    ``nnx.Linear``), ``lora_a`` ``[in, r]`` and ``lora_b`` ``[r, out]`` are float32 ``nnx.LoRAParam`` whatever the
    base dtype (the product runs in the input's dtype).

    Args:
        base: The layer to wrap (its variables are shared, not copied).
        rank: LoRA rank ``r``.
        alpha: LoRA ``alpha``; the update is scaled by ``alpha / r`` (``alpha / sqrt(r)`` with ``rslora``).
        rngs: Draws the initial ``A`` (Kaiming-uniform, PEFT's default: bound ``1 / sqrt(in)``).
        rslora: Rank-stabilised scaling (Kalajdzievski 2023, arXiv 2312.03732).
    """

    def __init__(self, base: nnx.Linear, *, rank: int, alpha: float, rngs: nnx.Rngs, rslora: bool = False):
        if rank < 1:
            raise ValueError(f"LoRA rank must be positive, got {rank}")
        self.kernel = base.kernel
        self.bias = base.bias if base.bias is not None else nnx.data(None)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.dtype = base.kernel[...].dtype
        # The base product keeps the wrapped layer's dot_general (mixed precision, econalign.model.precision); the
        # rank-r update is ~3% of the work and stays in the input's dtype.
        self.dot_general = base.dot_general
        self.rank, self.alpha, self.rslora = int(rank), float(alpha), bool(rslora)
        bound = 1.0 / math.sqrt(self.in_features)
        shape_a = (self.in_features, self.rank)
        # Factors stay float32 on a bfloat16 base, as PEFT keeps them: late in the cosine decay an update (and AdamW's
        # moments, which take the parameters' dtype) falls below bfloat16's spacing and would round away.
        self.lora_a = nnx.LoRAParam(jax.random.uniform(rngs.params(), shape_a, jnp.float32, -bound, bound))
        self.lora_b = nnx.LoRAParam(jnp.zeros((self.rank, self.out_features), jnp.float32))

    @property
    def scale(self) -> float:
        """The factor applied to the low-rank update."""
        return self.alpha / (math.sqrt(self.rank) if self.rslora else self.rank)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Apply the layer to ``x`` ``[..., in]``; returns ``[..., out]``."""
        y = self.dot_general(x, self.kernel[...], (((x.ndim - 1,), (0,)), ((), ())))
        if self.bias is not None:
            y = y + self.bias[...]
        update = (x @ self.lora_a[...].astype(x.dtype)) @ self.lora_b[...].astype(x.dtype)  # [..., r] -> [..., out]
        return y + update * jnp.asarray(self.scale, y.dtype)


def lora_layers(model: Llama) -> Iterator[tuple[int, str, LoRALinear]]:
    """Yield ``(layer index, projection name, module)`` for every LoRA-wrapped projection of ``model``."""
    for index, layer in enumerate(model.layers):
        for name, (block, attribute) in PROJECTIONS.items():
            module = getattr(getattr(layer, block), attribute)
            if isinstance(module, LoRALinear):
                yield index, name, module


def _check_targets(targets: Sequence[str]) -> list[str]:
    unknown = sorted(set(targets) - set(PROJECTIONS))
    if unknown or not targets:
        raise ValueError(
            f"LoRA targets {unknown or '[]'} are not projections of the model; choose from {list(PROJECTIONS)}"
        )
    return [name for name in PROJECTIONS if name in set(targets)]


def apply_lora(
    model: Llama,
    *,
    rank: int,
    alpha: float,
    targets: Sequence[str],
    rngs: nnx.Rngs,
    rslora: bool = False,
    layers: Sequence[int] | None = None,
) -> Llama:
    """Wrap the ``targets`` projections of every decoder block in :class:`LoRALinear` (in place).

    Modules are wrapped block by block, in the order of :data:`econalign.model.llama.PROJECTIONS`, so the same
    ``rngs`` seed gives the same adapter.

    Args:
        model: The model to modify.
        rank: LoRA rank ``r``.
        alpha: LoRA ``alpha`` (update scale ``alpha / r``).
        targets: Projection names, e.g. ``["q_proj", "v_proj"]`` (HF/PEFT ``target_modules``).
        rngs: Random streams for the ``A`` factors.
        rslora: Scale by ``alpha / sqrt(r)`` instead.
        layers: Only these block indices (default: all).

    Returns:
        ``model``, modified.

    Raises:
        ValueError: An unknown target, a non-positive rank, or a projection that is already wrapped.

    Example:
        >>> from econalign.model.llama import Llama, LlamaConfig
        >>> config = LlamaConfig(2, 32, 16, 32, 4, 2, 4)
        >>> model = apply_lora(Llama(config, rngs=nnx.Rngs(0)), rank=2, alpha=4, targets=["q_proj"],
        ...                    rngs=nnx.Rngs(1))
        >>> [name for _, name, _ in lora_layers(model)]
        ['q_proj', 'q_proj']
    """
    names = _check_targets(targets)
    chosen = set(range(len(model.layers)) if layers is None else layers)
    for index, layer in enumerate(model.layers):
        if index not in chosen:
            continue
        for name in names:
            block_name, attribute = PROJECTIONS[name]
            block = getattr(layer, block_name)
            base = getattr(block, attribute)
            if isinstance(base, LoRALinear):
                raise ValueError(f"layers.{index}.{block_name}.{attribute} already carries a LoRA adapter")
            setattr(block, attribute, LoRALinear(base, rank=rank, alpha=alpha, rngs=rngs, rslora=rslora))
    return model


def merge_lora(model: Llama) -> Llama:
    """Fold every adapter into its base kernel (``W += scale · A B``) and unwrap it to an ``nnx.Linear`` (in place).

    Args:
        model: A model with LoRA-wrapped projections.

    Returns:
        ``model``, with plain linear layers that compute what the adapted ones did.
    """
    for index, name, module in list(lora_layers(model)):
        block_name, attribute = PROJECTIONS[name]
        update = (module.lora_a[...] @ module.lora_b[...]) * module.scale
        module.kernel[...] = (module.kernel[...] + update).astype(module.kernel[...].dtype)
        setattr(getattr(model.layers[index], block_name), attribute, _plain_linear(module))
    return model


def _plain_linear(module: LoRALinear) -> nnx.Linear:
    linear = nnx.eval_shape(
        lambda: nnx.Linear(
            module.in_features,
            module.out_features,
            use_bias=module.bias is not None,
            dtype=module.dtype,
            param_dtype=module.dtype,
            dot_general=module.dot_general,
            rngs=nnx.Rngs(0),
        )
    )
    linear.kernel = module.kernel
    if module.bias is not None:
        linear.bias = module.bias
    return linear


def peft_state(model: Llama) -> dict[str, np.ndarray]:
    """The adapter weights of ``model`` under PEFT's key names and layouts (float32 numpy arrays).

    Args:
        model: A model with LoRA-wrapped projections.

    Returns:
        ``{"base_model.model.model.layers.N.<block>.<proj>.lora_A.weight": [r, in], "...lora_B.weight": [out, r]}``.
    """
    state: dict[str, np.ndarray] = {}
    for index, name, module in lora_layers(model):
        block_name, _ = PROJECTIONS[name]
        prefix = f"{_PEFT_PREFIX}.{index}.{block_name}.{name}"
        state[f"{prefix}.lora_A.weight"] = np.ascontiguousarray(np.asarray(module.lora_a[...], np.float32).T)
        state[f"{prefix}.lora_B.weight"] = np.ascontiguousarray(np.asarray(module.lora_b[...], np.float32).T)
    return state


def save_peft_adapter(
    model: Llama, out_dir: str | os.PathLike[str], *, base_model_name_or_path: str = "", **config_extra: Any
) -> Path:
    """Write ``model``'s adapter as a PEFT LoRA folder (``adapter_config.json``, ``adapter_model.safetensors``).

    Every adapted projection must share one rank, ``alpha`` and scaling (as :func:`apply_lora` makes them).

    Args:
        model: A model with LoRA-wrapped projections.
        out_dir: Destination folder (created; files written atomically, byte-identical for identical weights).
        base_model_name_or_path: Recorded in the config (PEFT uses it when no base model is passed).
        **config_extra: Further ``adapter_config.json`` fields.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        ValueError: If the model has no adapter or mixes ranks or scales.
    """
    from safetensors.numpy import save

    from econalign.io import write_atomic, write_json

    modules = list(lora_layers(model))
    if not modules:
        raise ValueError("the model carries no LoRA adapter to save")
    shapes = {(module.rank, module.alpha, module.rslora) for _, _, module in modules}
    if len(shapes) != 1:
        raise ValueError(f"one adapter must share rank, alpha and scaling; found {sorted(shapes)}")
    rank, alpha, rslora = shapes.pop()
    targets = [name for name in PROJECTIONS if any(target == name for _, target, _ in modules)]
    layers = sorted({index for index, _, _ in modules})
    config = {
        "alpha_pattern": {},
        "base_model_name_or_path": base_model_name_or_path,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_to_transform": None if len(layers) == len(model.layers) else layers,
        "lora_alpha": int(alpha) if float(alpha).is_integer() else alpha,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": rank,
        "rank_pattern": {},
        "target_modules": targets,
        "task_type": "CAUSAL_LM",
        "use_rslora": rslora,
        **config_extra,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / ADAPTER_WEIGHTS, save(peft_state(model), metadata={"format": "pt"}))
    write_json(out / ADAPTER_CONFIG, config)
    return out


def read_peft_config(adapter_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a PEFT ``adapter_config.json`` (LoRA only, features this module implements).

    Args:
        adapter_dir: The adapter folder.

    Returns:
        The config dict.

    Raises:
        ValueError: Another PEFT type, or LoRA options this module does not support (naming them).
    """
    config = json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text())
    problems = []
    if config.get("peft_type", "LORA") != "LORA":
        problems.append(f"peft_type {config['peft_type']!r}")
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save"):
        if config.get(key):
            problems.append(f"{key}={config[key]!r}")
    if config.get("fan_in_fan_out"):
        problems.append("fan_in_fan_out=true")
    if config.get("bias", "none") != "none":
        problems.append(f"bias={config['bias']!r}")
    for key in ("use_dora", "lora_bias"):
        if config.get(key):
            problems.append(f"{key}=true")
    if problems:
        raise ValueError(f"{adapter_dir}: unsupported adapter options: {', '.join(problems)}")
    return config


def load_peft_adapter(model: Llama, adapter_dir: str | os.PathLike[str], *, merge: bool = True) -> Llama:
    """Load a PEFT LoRA folder (or a fully fine-tuned checkpoint folder) into ``model`` (in place).

    Args:
        model: The base model (untouched projections), loaded from the checkpoint the adapter was trained on.
        adapter_dir: A folder with ``adapter_config.json`` + ``adapter_model.safetensors`` (PEFT LoRA), or with
            ``config.json`` + ``model.safetensors`` (full fine-tuning output: its weights replace the model's).
        merge: Fold the adapter into the base kernels (fast inference); ``False`` keeps :class:`LoRALinear`
            modules (trainable, or to inspect the factors).

    Returns:
        ``model``, modified.

    Raises:
        FileNotFoundError: The folder holds neither layout.
        ValueError: Unsupported options, unknown keys, or shapes that do not fit the model (all listed at once).
    """
    from safetensors.numpy import load_file

    folder = Path(adapter_dir)
    if not (folder / ADAPTER_CONFIG).is_file():
        if (folder / "config.json").is_file():
            return _load_full_weights(model, folder)
        raise FileNotFoundError(f"{folder} holds neither {ADAPTER_CONFIG} (LoRA) nor config.json (full weights)")
    config = read_peft_config(folder)
    weights = load_file(folder / ADAPTER_WEIGHTS)
    targets = config["target_modules"]
    layers = config.get("layers_to_transform")
    if isinstance(layers, int):
        layers = [layers]
    if isinstance(targets, str):
        # PEFT allows a regex over module names (model.layers.N.self_attn.q_proj); resolve it against ours, every
        # block, since a pattern may name some layers only.
        pattern = targets
        matched = [
            (index, name)
            for index in range(model.config.num_layers)
            for name, (block, _) in PROJECTIONS.items()
            if re.fullmatch(pattern, f"model.layers.{index}.{block}.{name}") or pattern == name
        ]
        if not matched:
            raise ValueError(f"{folder}: target_modules pattern {pattern!r} matches no projection of this model")
        targets = sorted({name for _, name in matched}, key=list(PROJECTIONS).index)
        matched_layers = sorted({index for index, _ in matched})
        if len({frozenset(i for i, n in matched if n == name) for name in targets}) > 1:
            raise ValueError(
                f"{folder}: target_modules pattern {pattern!r} adapts different projections in different layers, "
                "which this loader does not support"
            )
        if layers is None and len(matched_layers) < model.config.num_layers:
            layers = matched_layers
    apply_lora(
        model,
        rank=int(config["r"]),
        alpha=float(config["lora_alpha"]),
        targets=targets,
        rngs=nnx.Rngs(0),
        rslora=bool(config.get("use_rslora", False)),
        layers=layers,
    )
    modules = {(index, name): module for index, name, module in lora_layers(model)}
    errors, seen = [], set()
    for key, value in weights.items():
        match = _PEFT_KEY.fullmatch(key)
        if match is None:
            errors.append(f"{key}: not a LoRA key of a decoder projection")
            continue
        index, name, factor = int(match.group(1)), match.group(3), match.group(4)
        module = modules.get((index, name))
        if module is None:
            errors.append(f"{key}: layers.{index}.{name} is not a target of this adapter")
            continue
        variable = module.lora_a if factor == "A" else module.lora_b
        expected = variable[...].shape[::-1]
        if value.shape != expected:
            errors.append(f"{key}: shape {list(value.shape)}, expected {list(expected)}")
            continue
        variable[...] = jnp.asarray(value.T, dtype=variable[...].dtype)
        seen.add((index, name, factor))
    missing = [f"layers.{i}.{n}.lora_{f}" for (i, n) in modules for f in "AB" if (i, n, f) not in seen]
    if missing:
        errors.append(f"missing factors: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    if errors:
        raise ValueError(f"{folder / ADAPTER_WEIGHTS} does not fit the model:\n  " + "\n  ".join(errors))
    return merge_lora(model) if merge else model


def _load_full_weights(model: Llama, folder: Path) -> Llama:
    from econalign.model.params import load_llama

    tuned = load_llama(folder, dtype=model.config.dtype)
    if tuned.config != model.config:
        differ = [
            f"{field.name} {getattr(tuned.config, field.name)!r} (base: {getattr(model.config, field.name)!r})"
            for field in dataclasses.fields(model.config)
            if getattr(tuned.config, field.name) != getattr(model.config, field.name)
        ]
        described = ", ".join(differ)
        raise ValueError(f"{folder} holds a checkpoint of another architecture than the base model: {described}")
    nnx.update(model, nnx.state(tuned))
    return model
