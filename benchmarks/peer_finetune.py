"""The peer of benchmarks/finetune.py: HF transformers + PEFT LoRA training steps in torch.

Runs under an interpreter that has torch, transformers and peft (never the project's environment), e.g.
``python3 -m venv /tmp/peftref && /tmp/peftref/bin/pip install torch==2.13.0 transformers peft safetensors``.
Prints one JSON object.

* ``--rows R --length T``: LoRA r=8 (alpha 16) on q and v, random tokens, loss on every position
  (``labels=input_ids``), AdamW with gradient clipping: ``step_s`` (median after one warm-up step),
  ``tokens_per_s``, ``peak_rss_mb``.
* ``--tokens FILE``: a standard HF + PEFT SFT loop over the examples and batch order written by
  benchmarks/finetune.py (default LoRA settings of econalign: r=16, alpha 32 on q, k, v, o): each batch padded to
  its longest sequence, prompt positions masked with -100, logits over the full vocabulary at every position.
* ``--autocast-bf16``: the forward pass under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (float32 weights,
  bfloat16 products), torch's counterpart of econalign's ``model.dtype: bfloat16-mixed``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from machine import peak_rss_mb
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM


def load(model_dir: str, *, rank: int, alpha: int, targets: list[str]) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0, task_type="CAUSAL_LM")
    return get_peft_model(model, config).train()


def train_step(model, optimizer, input_ids, attention_mask, labels, *, autocast: bool) -> float:
    tick = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - tick


def fixed(model_dir: str, rows: int, length: int, steps: int, *, autocast: bool = False) -> dict:
    model = load(model_dir, rank=8, alpha=16, targets=["q_proj", "v_proj"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=4e-4, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (rows, length), generator=generator)
    mask = torch.ones_like(ids)
    times = [train_step(model, optimizer, ids, mask, ids, autocast=autocast) for _ in range(steps + 1)]
    step_s = statistics.median(times[1:])
    return {
        "step_s": round(step_s, 3),
        "tokens_per_s": round(rows * length / step_s, 1),
        "peak_rss_mb": peak_rss_mb(),
    }


def training_set(model_dir: str, tokens_file: str, steps: int, *, autocast: bool = False) -> dict:
    with open(tokens_file) as handle:
        data = json.load(handle)
    examples, order = data["examples"], data["steps"]
    model = load(model_dir, rank=16, alpha=32, targets=["q_proj", "k_proj", "v_proj", "o_proj"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=4e-4, weight_decay=0.0)
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0

    def batch(indices: list[int]):
        members = [examples[i] for i in indices]
        width = max(len(m["tokens"]) for m in members)
        ids = torch.full((len(members), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for row, m in enumerate(members):
            n = len(m["tokens"])
            ids[row, :n] = torch.tensor(m["tokens"])
            mask[row, :n] = 1
            labels[row, m["prompt_length"] : n] = ids[row, m["prompt_length"] : n]
        return ids, mask, labels, len(members), sum(len(m["tokens"]) for m in members)

    train_step(model, optimizer, *batch(order[0])[:3], autocast=autocast)  # warm-up
    measured = []
    for indices in order[:steps]:
        ids, mask, labels, n, tokens = batch(indices)
        measured.append((train_step(model, optimizer, ids, mask, labels, autocast=autocast), n, tokens))
    seconds = sum(m[0] for m in measured)
    return {
        "examples_per_s": round(sum(m[1] for m in measured) / seconds, 3),
        "tokens_per_s": round(sum(m[2] for m in measured) / seconds, 1),
        "step_s": round(seconds / len(measured), 3),
        "steps": len(measured),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--length", type=int)
    parser.add_argument("--tokens")
    parser.add_argument("--autocast-bf16", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.tokens:
        print(json.dumps(training_set(args.model, args.tokens, args.steps, autocast=args.autocast_bf16)))
    else:
        print(json.dumps(fixed(args.model, args.rows, args.length, args.steps, autocast=args.autocast_bf16)))


if __name__ == "__main__":
    main()
