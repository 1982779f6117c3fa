"""Reference values for the PEFT-layout tests, made with HF transformers + PEFT + torch (not a project dependency).

Run with an interpreter that has torch, transformers, peft and safetensors (outside the repo's environment):

    python3 -m venv /tmp/peftref && /tmp/peftref/bin/pip install torch==2.13.0 transformers peft safetensors
    /tmp/peftref/bin/python tests/train/data/peft/make_reference.py          # base/ and peft_made/
    uv run python tests/train/data/peft/make_ours.py                        # ours/ (exported by econalign)
    /tmp/peftref/bin/python tests/train/data/peft/make_reference.py          # logits.npz for both adapters

Writes, beside this file:
  base/        a random 2-block Llama (HF layout, float32) built by transformers from TINY_CONFIG;
  peft_made/   a LoRA adapter made by PEFT (r=4, alpha=8, rslora off; random A and B) on q, v, o, up projections;
  peft_top/    the same kind of adapter on the last block only (PEFT layers_to_transform=[1]);
  logits.npz   float32 logits [2, 12, V] for TOKENS: "base", "peft_made" (base + PEFT's adapter, through PEFT),
               "peft_made_merged" (merge_and_unload), "peft_top", and "ours" / "ours_top" (base + the adapters
               make_ours.py exported, through PEFT).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

HERE = Path(__file__).resolve().parent
TINY_CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_act": "silu",
    "num_hidden_layers": 2,
    "vocab_size": 272,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
    "max_position_embeddings": 512,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}
TOKENS = np.array([[1, 17, 42, 99, 5, 200, 33, 7, 150, 64, 2, 9], [1, 3, 250, 18, 77, 77, 120, 11, 6, 140, 31, 2]])


def base_model() -> LlamaForCausalLM:
    return LlamaForCausalLM.from_pretrained(HERE / "base", torch_dtype=torch.float32).eval()


def logits_of(model: torch.nn.Module) -> np.ndarray:
    with torch.no_grad():
        return model(input_ids=torch.tensor(TOKENS)).logits.float().numpy()


def make_base() -> None:
    torch.manual_seed(0)
    config = LlamaConfig(**{k: v for k, v in TINY_CONFIG.items() if k not in ("model_type", "architectures")})
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger than the default init so the differences are well above float32 noise
        for parameter in model.parameters():
            if parameter.ndim == 2:
                parameter.normal_(0.0, 0.2)
    model.save_pretrained(HERE / "base", safe_serialization=True)


def make_peft_adapter(name: str, *, seed: int, layers_to_transform: list[int] | None = None) -> None:
    """A PEFT LoRA adapter (r=4, alpha=8; random A and B) on q, v, o, up, saved as ``HERE / name``."""
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj", "o_proj", "up_proj"],
        layers_to_transform=layers_to_transform,
        init_lora_weights=False,
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(seed)
    get_peft_model(base_model(), lora).save_pretrained(HERE / name)
    (HERE / name / "README.md").unlink(missing_ok=True)
    config_path = HERE / name / "adapter_config.json"
    # The absolute path PEFT records would differ per checkout; only the name matters here.
    config_path.write_text(
        json.dumps({**json.loads(config_path.read_text()), "base_model_name_or_path": "base"}, indent=2)
    )


def main() -> None:
    if not (HERE / "base" / "config.json").is_file():
        make_base()
        make_peft_adapter("peft_made", seed=1)
    if not (HERE / "peft_top" / "adapter_config.json").is_file():
        make_peft_adapter("peft_top", seed=2, layers_to_transform=[1])
    arrays = {"tokens": TOKENS, "base": logits_of(base_model())}
    made = PeftModel.from_pretrained(base_model(), HERE / "peft_made").eval()
    arrays["peft_made"] = logits_of(made)
    arrays["peft_made_merged"] = logits_of(made.merge_and_unload())
    arrays["peft_top"] = logits_of(PeftModel.from_pretrained(base_model(), HERE / "peft_top").eval())
    for name in ("ours", "ours_top"):
        if (HERE / name / "adapter_config.json").is_file():
            arrays[name] = logits_of(PeftModel.from_pretrained(base_model(), HERE / name).eval())
    np.savez(HERE / "logits.npz", **arrays)
    print(json.dumps({key: list(value.shape) for key, value in arrays.items()}))


if __name__ == "__main__":
    main()
