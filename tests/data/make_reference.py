"""Write the HF transformers + torch reference values the model tests compare against.

Run it outside the project environment, in a venv with torch (never a project dependency):

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 transformers==5.24.0 safetensors numpy
    uv run econalign prepare-model smollm2-135m-instruct --out /tmp/smollm2
    /tmp/torchref/bin/python tests/data/make_reference.py --smollm2 /tmp/smollm2

(5.24.0 is the transformers version the stored files record.) Float32 kernels differ between CPUs: on another machine
a re-run can change the stored values in their 7th significant digit (1e-5 at most), far inside the tests' 1e-3. It
writes

* ``tests/data/tiny-{llama,qwen2,mistral}/``: tiny random checkpoints (hidden 64, 2 layers, a 259-token
  byte-level tokenizer with a ChatML template), made with a fixed torch seed: llama with llama3 RoPE
  scaling and untied embeddings, qwen2 with q/k/v biases and tied embeddings, mistral untied;
* ``tests/data/reference_tiny.json``: per architecture, hidden states, logits, option log-probabilities, a
  left-padded batch and greedy continuations;
* ``tests/data/reference_sliding_window.json``: tiny-mistral loaded with ``sliding_window`` 8 (eager attention,
  checked against sdpa) on a prompt of 26 tokens, and the same prompt with full attention: next-token log-probs
  at every position, the last rows of logits and the last position's top 10 (``--sliding-window-only`` writes
  just this file, from the existing tiny-mistral checkpoint);
* ``tests/data/reference_smollm2.json`` (with ``--smollm2``): the same for the embedded model, with the
  NOTES reference (' A' = -0.7902, ' B' = -2.8560 after "My answer is").

Conventions match :mod:`econalign.model.tokenizer`: chat prompts are templated with the generation prompt,
options are tokenized alone (no special tokens) and appended; a left-padded batch gets explicit position ids
that skip padding.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

HERE = Path(__file__).resolve().parent
SEED = 20260101
CHATML = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
PD_USER = (
    "You are playing a prisoner's dilemma against another player. If you both cooperate (A), you each get 3 points. "
    "If you both defect (B), you each get 1 point. If one defects and the other cooperates, the defector gets 5 and "
    "the cooperator gets 0. Do you cooperate or defect? Answer A or B."
)
CHAT_PROMPTS = [
    [{"role": "user", "content": PD_USER}],
    [{"role": "system", "content": "You are a careful economist."}, {"role": "user", "content": "Pick A or B."}],
    [{"role": "user", "content": "Stag hunt: hunt stag (A) for 4 if both do, or hare (B) for 3. Answer A or B."}],
]
OPTIONS = ["A", "B", "Answer: A", " I choose B because it pays 5"]
RAW_BATCH = ["The capital of France is", "1, 2, 3, 4,", "My answer is"]
TINY = {
    "llama": dict(
        model_type="llama",
        tie_word_embeddings=False,
        rope_theta=10000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        },
    ),
    "qwen2": dict(model_type="qwen2", tie_word_embeddings=True, rope_theta=1000000.0, use_sliding_window=False),
    "mistral": dict(model_type="mistral", tie_word_embeddings=False, rope_theta=10000.0, sliding_window=4096),
}
TINY_VOCAB = 320  # 3 special tokens + 256 bytes, padded: rows past the tokenizer are never produced by it
SLIDING_WINDOW = 8
SLIDING_TEXT = "Stag hunt: pick A or B now"  # 26 byte-level tokens, more than three windows of 8


def tiny_tokenizer(out: Path) -> None:
    """A byte-level tokenizer without merges: ids 0-2 special, then one token per byte."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for byte, char in sorted(bytes_to_unicode().items()):
        vocab[char] = len(specials) + byte
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    (out / "tokenizer.json").write_text(tokenizer.to_str())
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|im_end|>",
        "add_bos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 2048,
        "chat_template": CHATML,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def make_tiny(arch: str) -> Path:
    """Create tests/data/tiny-<arch>/ with random weights from a fixed seed."""
    out = HERE / f"tiny-{arch}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    spec = dict(TINY[arch])
    config = AutoConfig.for_model(
        spec.pop("model_type"),
        vocab_size=TINY_VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        **spec,
    )
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # Larger than HF's init (std 0.02) so that logits are far from uniform and the tests can fail.
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
            else:
                param.copy_(0.15 * torch.randn_like(param))
    model.save_pretrained(out, safe_serialization=True)
    tiny_tokenizer(out)
    return out


def option_logprobs(model, tokenizer, prompt_ids: list[int], options: list[str]) -> list[float]:
    """Sum of log p(option tokens | prompt), one forward pass per option."""
    scores = []
    for option in options:
        option_ids = tokenizer(option, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + option_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
        start = len(prompt_ids) - 1
        scores.append(float(sum(logprobs[start + k, t] for k, t in enumerate(option_ids))))
    return scores


def left_padded(model, tokenizer, texts: list[str], *, top: int) -> dict:
    """Next-token log-probs of a left-padded batch (position ids skip padding): the ``top`` most likely per row."""
    rows = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    width = max(len(row) for row in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows])
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1]
    best = torch.topk(torch.log_softmax(logits.double(), dim=-1), top)
    return {"texts": texts, "token_ids": rows, "top_ids": best.indices.tolist(), "top_logprobs": best.values.tolist()}


def components(model, ids: list[int], *, dims: int, vocab: int, positions: int) -> dict:
    """Embedding output, first layer's output, final normed hidden state (first ``dims`` features each) and
    the last ``positions`` rows of logits (first ``vocab`` entries)."""
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    hidden = [out.hidden_states[i][0, :, :dims].tolist() for i in (0, 1, -1)]
    logits = out.logits[0, -positions:, :vocab]
    last = torch.log_softmax(out.logits[0, -1].double(), dim=-1)
    top = torch.topk(last, 10)
    return {
        "token_ids": ids,
        "hidden_states": hidden,
        "logits_tail": logits.tolist(),
        "last_top10_ids": top.indices.tolist(),
        "last_top10_logprobs": top.values.tolist(),
    }


def greedy(model, tokenizer, prompt_ids: list[int], n: int) -> list[int]:
    """Greedy continuation with HF generate, stopping at eos (excluded)."""
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, len(prompt_ids) :].tolist()
    return new[: new.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in new else new


def reference(model_dir: Path, *, dims: int, vocab: int, generate_tokens: int) -> dict:
    """All reference values of one model directory."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    chat_ids = [
        tokenizer(
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True), add_special_tokens=False
        )["input_ids"]
        for p in CHAT_PROMPTS
    ]
    short = tokenizer("Pick A or B.", add_special_tokens=False)["input_ids"]
    return {
        "components": components(model, short, dims=dims, vocab=vocab, positions=4),
        "chat": {
            "prompts": CHAT_PROMPTS,
            "prompt_ids": chat_ids,
            "options": OPTIONS,
            "option_ids": [tokenizer(o, add_special_tokens=False)["input_ids"] for o in OPTIONS],
            "logprobs": [option_logprobs(model, tokenizer, ids, OPTIONS) for ids in chat_ids],
        },
        "left_padded": left_padded(model, tokenizer, RAW_BATCH, top=20),
        "greedy": {"prompt_ids": chat_ids[2], "tokens": greedy(model, tokenizer, chat_ids[2], generate_tokens)},
    }


def sliding_window_reference(model_dir: Path, *, window: int) -> dict:
    """Mistral's sliding window in HF: the same weights with ``sliding_window`` = ``window`` and with full attention.

    HF's mask lets query ``q`` see key ``k`` iff ``q - window < k <= q`` (``masking_utils.sliding_window_overlay``),
    applied in eager and sdpa attention alike; the two implementations are checked against each other here.
    """
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer(SLIDING_TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) > 3 * window, len(ids)
    tokens = torch.tensor([ids])

    def run(sliding_window: int | None, attn_implementation: str) -> dict:
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32, sliding_window=sliding_window, attn_implementation=attn_implementation
        ).eval()
        assert model.config.sliding_window == sliding_window
        with torch.no_grad():
            logits = model(tokens).logits[0]
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        top = torch.topk(logprobs[-1], 10)
        return {
            "next_token_logprobs": [float(logprobs[t, ids[t + 1]]) for t in range(len(ids) - 1)],
            "logits_tail": logits[-4:].tolist(),
            "last_top10_ids": top.indices.tolist(),
            "last_top10_logprobs": top.values.tolist(),
            "_logits": logits,
        }

    windowed, full = run(window, "eager"), run(None, "eager")
    sdpa = run(window, "sdpa")
    assert torch.allclose(windowed["_logits"], sdpa["_logits"], atol=1e-5), "eager and sdpa windows disagree"
    for out in (windowed, full):
        del out["_logits"]
    return {"text": SLIDING_TEXT, "token_ids": ids, "sliding_window": window, "windowed": windowed, "full": full}


def dumps(obj: object) -> str:
    """JSON with floats cut to 7 significant digits (the tests compare at 1e-3)."""

    def cut(x: object) -> object:
        if isinstance(x, float):
            return float(f"{x:.7g}")
        if isinstance(x, list):
            return [cut(v) for v in x]
        if isinstance(x, dict):
            return {k: cut(v) for k, v in x.items()}
        return x

    return json.dumps(cut(obj), sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", type=Path, help="prepared embedded model directory")
    parser.add_argument("--skip-tiny", action="store_true", help="keep the existing tiny checkpoints")
    parser.add_argument(
        "--sliding-window-only",
        action="store_true",
        help="write only reference_sliding_window.json, from the existing tiny-mistral checkpoint",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.sliding_window_only:
        sliding = sliding_window_reference(HERE / "tiny-mistral", window=SLIDING_WINDOW)
        (HERE / "reference_sliding_window.json").write_text(dumps(sliding))
        return
    if not args.skip_tiny:
        tiny = {arch: reference(make_tiny(arch), dims=64, vocab=TINY_VOCAB, generate_tokens=12) for arch in TINY}
        (HERE / "reference_tiny.json").write_text(dumps(tiny))
        sliding = sliding_window_reference(HERE / "tiny-mistral", window=SLIDING_WINDOW)
        (HERE / "reference_sliding_window.json").write_text(dumps(sliding))
    if args.smollm2:
        ref = reference(args.smollm2, dims=32, vocab=64, generate_tokens=16)
        tokenizer = AutoTokenizer.from_pretrained(args.smollm2)
        model = AutoModelForCausalLM.from_pretrained(args.smollm2, dtype=torch.float32).eval()
        text = tokenizer.apply_chat_template(CHAT_PROMPTS[0], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text + "My answer is", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            last = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].double(), dim=-1)
        a, b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (" A", " B"))
        ref["notes"] = {"text": text + "My answer is", "token_ids": ids, "A": float(last[a[0]]), "B": float(last[b[0]])}
        (HERE / "reference_smollm2.json").write_text(dumps(ref))


if __name__ == "__main__":
    main()
