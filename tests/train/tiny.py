"""Tiny stand-ins for the training tests: a byte-level tokenizer, a 2-block Llama and a chat dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from flax import nnx

from econalign.config import validate_config
from econalign.model.llama import Llama, LlamaConfig

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_HF_CONFIG = {
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
    "torch_dtype": "float32",
}


def tiny_config(dtype: str = "float32") -> LlamaConfig:
    return LlamaConfig.from_hf_config(TINY_HF_CONFIG, dtype=dtype)


def tiny_model(seed: int = 0, dtype: str = "float32") -> Llama:
    return Llama(tiny_config(dtype), rngs=nnx.Rngs(seed))


def write_tokenizer(directory: Path) -> None:
    """A byte-level BPE without merges (one token per byte) plus ChatML control tokens, as transformers saves it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for symbol in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(symbol, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(SPECIALS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", bos_token="<|im_start|>", unk_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(directory))


def write_model_dir(directory: Path, *, seed: int = 0) -> Path:
    """An HF-layout model directory holding a random tiny Llama and the byte tokenizer."""
    from safetensors.numpy import save

    from econalign.model.params import to_hf_tensors

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(TINY_HF_CONFIG))
    (directory / "model.safetensors").write_bytes(save(to_hf_tensors(tiny_model(seed)), metadata={"format": "pt"}))
    write_tokenizer(directory)
    return directory


def make_rows(n: int, *, seed: int, split: str = "train") -> list[dict[str, Any]]:
    """Chat rows in the dataset schema: a two-option game whose answer is A when the first number is larger."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = (int(v) for v in rng.integers(0, 10, 2))
        swap = bool(rng.integers(2))
        labels = ["B", "A"] if swap else ["A", "B"]
        options = [{"label": labels[0], "action": "C"}, {"label": labels[1], "action": "D"}]
        optimal = "C" if a >= b else "D"
        label = labels[0] if optimal == "C" else labels[1]
        messages = [{"role": "user", "content": f"x={a} y={b}. {labels[0]}=C {labels[1]}=D?"}]
        reasoning = f"u(C)={a} u(D)={b}"[: 6 + (i % 8)]
        rows.append(
            {
                "id": f"{split}-{i}",
                "split": split,
                "messages": json.dumps(messages),
                "options": json.dumps(options),
                "optimal_action": optimal,
                "target": f"Answer: {label}\n{reasoning}",
            }
        )
    return rows


def write_dataset(directory: Path, *, n_train: int = 24, n_val: int = 8) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(make_rows(n_train, seed=1)).write_parquet(directory / "train.parquet")
    pl.DataFrame(make_rows(n_val, seed=2, split="validation")).write_parquet(directory / "validation.parquet")
    return directory


def finetune_config(**overrides: Any) -> dict[str, Any]:
    """A resolved config with a small, fast fine-tuning section."""
    finetune = {
        "batch_size": 4,
        "epochs": 1,
        "learning_rate": 0.01,
        "max_buckets": 1,
        "eval_items": 0,
        "checkpoint_every": 2,
        "eval_every": 0,
        "decision_weight": 1.0,
        "progress": False,
        "lora": {"rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]},
    }
    finetune.update(overrides)
    return validate_config({"finetune": finetune})


def synthetic_examples(n: int, *, seed: int, token: int | None = None) -> list[Any]:
    """Pre-tokenised examples (no tokenizer): random prompts whose one-token answer copies the prompt's last token."""
    from econalign.train.data import Example

    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(n):
        prompt = rng.integers(3, 272, int(rng.integers(4, 28))).astype(np.int32)
        if token is not None:
            prompt[-1] = token
        answer = np.asarray([prompt[-1], 2], np.int32)
        weights = np.asarray([2.0, 1.0], np.float32)
        examples.append(Example(tokens=np.concatenate([prompt, answer]), prompt_length=len(prompt), weights=weights))
    return examples
