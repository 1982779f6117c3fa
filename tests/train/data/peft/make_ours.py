"""Export an adapter with econalign (``ours/``) for make_reference.py to load through HF PEFT.

Run in the project's environment after the first make_reference.py run:
``uv run python tests/train/data/peft/make_ours.py``.
The adapter has rank 2, alpha 6, rank-stabilised scaling, on k, o, gate and down projections; both factors are
random (a fresh adapter's B is zero, which would test nothing). ``ours_top/`` is the same kind of adapter on the
last block only (``layers_to_transform: [1]``, as ``finetune.train_layers: 1`` exports it).
"""

from __future__ import annotations

from pathlib import Path

import jax
from flax import nnx

from econalign.model.lora import apply_lora, lora_layers, save_peft_adapter
from econalign.model.params import load_llama

HERE = Path(__file__).resolve().parent


def export(out: Path, *, layers: list[int] | None, seed: int) -> None:
    model = load_llama(HERE / "base")
    apply_lora(model, rank=2, alpha=6, targets=["k_proj", "o_proj", "gate_proj", "down_proj"], rngs=nnx.Rngs(seed),
               rslora=True, layers=layers)  # fmt: skip
    key = jax.random.key(seed + 1)
    for _, _, module in lora_layers(model):
        key, sub = jax.random.split(key)
        module.lora_b[...] = 0.3 * jax.random.normal(sub, module.lora_b[...].shape)
    save_peft_adapter(model, out, base_model_name_or_path="base")


def main() -> None:
    export(HERE / "ours", layers=None, seed=3)
    export(HERE / "ours_top", layers=[1], seed=5)


if __name__ == "__main__":
    main()
