"""Export an adapter with econalign (``ours/``) for make_reference.py to load through HF PEFT.

Run in the project's environment after the first make_reference.py run:
``uv run python tests/train/data/peft/make_ours.py``.
The adapter has rank 2, alpha 6, rank-stabilised scaling, on k, o, gate and down projections; both factors are
random (a fresh adapter's B is zero, which would test nothing).
"""

from __future__ import annotations

from pathlib import Path

import jax
from flax import nnx

from econalign.model.lora import apply_lora, lora_layers, save_peft_adapter
from econalign.model.params import load_llama

HERE = Path(__file__).resolve().parent


def main() -> None:
    model = load_llama(HERE / "base")
    apply_lora(model, rank=2, alpha=6, targets=["k_proj", "o_proj", "gate_proj", "down_proj"], rngs=nnx.Rngs(3),
               rslora=True)  # fmt: skip
    key = jax.random.key(4)
    for _, _, module in lora_layers(model):
        key, sub = jax.random.split(key)
        module.lora_b[...] = 0.3 * jax.random.normal(sub, module.lora_b[...].shape)
    save_peft_adapter(model, HERE / "ours", base_model_name_or_path="base")


if __name__ == "__main__":
    main()
