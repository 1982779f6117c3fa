"""Fine-tuning throughput: econalign (JAX/NNX + optax) against HF transformers + PEFT (torch).

Prints one JSON object and writes it to benchmarks/results/finetune.json:

* ``fixed_shapes``: ``{"8x128": {...}, "8x256": {...}}``: one LoRA step (r=8 on q and v, loss on every
  position, so the work equals the peer's) on random tokens: ``step_s`` (median after compilation),
  ``tokens_per_s``, ``peak_rss_mb`` (each shape in its own process), ``compile_s``.
* ``training_set``: steps of the real training loop (default ``finetune`` config: answer-only loss, length
  buckets) on an agent's training split: ``examples_per_s``, ``tokens_per_s`` (unpadded), ``step_s``.
* ``peer``: the same keys measured with HF transformers + PEFT in a separate interpreter that has torch
  (``--peer-python`` or ``ECONALIGN_PEER_PYTHON``; see benchmarks/peer_finetune.py): fixed shapes, and a standard
  loop on the same tokenised examples (padding to the batch maximum, full-vocabulary logits at every position).
* ``speedup``: ours / peer for each measurement (ours and the peer's alternate, shape by shape).
* ``load_average_1min``: the machine's 1-minute load average, lowest and highest seen between measurements (about
  2 is the benchmark alone on two cores; more means other jobs shared the machine).
* ``machine``: CPU, cores, Python and date (``machine.py``).
* ``dtype``: the precision of both sides (``--dtype``): ``float32``, or ``bfloat16-mixed`` (ours with that
  ``model.dtype``, the peer under ``torch.autocast`` in bfloat16; written to ``finetune_bfloat16-mixed.json``).

Usage: ``uv run python benchmarks/finetune.py --model results/prepare_model/base --data results/synthesize/economicus
--peer-python /tmp/peftref/bin/python``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import PRECISIONS, machine, peak_rss_mb, results_file

HERE = Path(__file__).resolve().parent
SHAPES = ((8, 128), (8, 256))


def fixed_shape(model_dir: str, rows: int, length: int, steps: int, dtype: str = "float32") -> dict:
    """One shape, LoRA r=8 on q, v, loss on all positions (run in a fresh process for a clean peak RSS)."""
    import jax
    import numpy as np
    from flax import nnx

    from econalign.config import validate_config
    from econalign.model.lora import apply_lora
    from econalign.model.params import load_llama
    from econalign.train.data import Example, make_batch
    from econalign.train.optim import optimizer_from_config
    from econalign.train.steps import make_grad_fn, make_update_fn, split_model

    settings = validate_config({})["finetune"]
    model = load_llama(model_dir, dtype=dtype)
    apply_lora(model, rank=8, alpha=16, targets=["q_proj", "v_proj"], rngs=nnx.Rngs(0))
    graphdef, trainable, frozen = split_model(model, full=False)
    optimizer = optimizer_from_config(settings, total_steps=steps + 1)
    opt_state = optimizer.init(trainable)
    grad_fn, update_fn = make_grad_fn(graphdef), make_update_fn(optimizer)
    rng = np.random.default_rng(0)
    examples = [
        Example(
            tokens=rng.integers(0, model.config.vocab_size, length).astype(np.int32),
            prompt_length=1,
            weights=np.ones(length - 1, np.float32),
        )
        for _ in range(rows)
    ]
    batch = jax.tree.map(jax.numpy.asarray, make_batch(examples, rows=rows, length=length, slots=length))
    times = []
    for _ in range(steps + 1):
        tick = time.perf_counter()
        _, stats, grads = grad_fn(trainable, frozen, batch)
        trainable, opt_state, _ = update_fn(trainable, opt_state, grads, stats["weight"])
        jax.block_until_ready(trainable)
        times.append(time.perf_counter() - tick)
    step_s = statistics.median(times[1:])
    return {
        "step_s": round(step_s, 3),
        "tokens_per_s": round(rows * length / step_s, 1),
        "peak_rss_mb": peak_rss_mb(),
        "compile_s": round(times[0] - step_s, 2),
    }


def training_set(model_dir: str, data_dir: str, steps: int, tokens_out: str | None, dtype: str = "float32") -> dict:
    """Steps of the real loop (default config) after every bucket has compiled once."""
    import jax
    import numpy as np
    from flax import nnx

    from econalign.config import validate_config
    from econalign.model.lora import apply_lora
    from econalign.model.params import load_llama
    from econalign.model.tokenizer import load_tokenizer
    from econalign.train.data import bucket_of, make_batch
    from econalign.train.examples import encode_rows, read_split
    from econalign.train.loop import make_plan
    from econalign.train.optim import optimizer_from_config
    from econalign.train.steps import make_grad_fn, make_update_fn, split_model

    settings = validate_config({})["finetune"]
    tokenizer = load_tokenizer(model_dir)
    examples = encode_rows(
        tokenizer,
        read_split(Path(data_dir) / "train.parquet"),
        decision_weight=settings["decision_weight"],
        reasoning_weight=settings["reasoning_weight"],
        max_target_tokens=settings["max_target_tokens"],
    )
    plan = make_plan(examples, finetune=settings, seed=0)
    if tokens_out:
        # The peer trains on exactly these sequences, in this order.
        order = [[int(i) for micro in step for i in micro] for step in plan.steps]
        Path(tokens_out).write_text(json.dumps({
            "examples": [{"tokens": e.tokens.tolist(), "prompt_length": e.prompt_length} for e in examples],
            "steps": order,
        }))  # fmt: skip
    model = load_llama(model_dir, dtype=dtype)
    lora = settings["lora"]
    apply_lora(model, rank=lora["rank"], alpha=lora["alpha"], targets=lora["targets"], rngs=nnx.Rngs(0))
    graphdef, trainable, frozen = split_model(model, full=False)
    optimizer = optimizer_from_config(settings, total_steps=len(plan.steps))
    opt_state = optimizer.init(trainable)
    grad_fn, update_fn = make_grad_fn(graphdef), make_update_fn(optimizer)

    def step(indices: list[int]) -> tuple[float, int, int]:
        nonlocal trainable, opt_state
        members = [examples[i] for i in indices]
        bucket = bucket_of(max(e.length for e in members), plan.buckets)
        batch = jax.tree.map(
            jax.numpy.asarray, make_batch(members, rows=plan.rows, length=bucket, slots=plan.slots[bucket])
        )
        tick = time.perf_counter()
        _, stats, grads = grad_fn(trainable, frozen, batch)
        trainable, opt_state, _ = update_fn(trainable, opt_state, grads, stats["weight"])
        jax.block_until_ready(trainable)
        return time.perf_counter() - tick, len(members), sum(e.length for e in members)

    warmed: set[int] = set()
    for micro in (step_[0] for step_ in plan.steps):
        bucket = bucket_of(max(examples[i].length for i in micro), plan.buckets)
        if bucket not in warmed:
            warmed.add(bucket)
            step(micro)
    measured = [step(step_[0]) for step_ in plan.steps[:steps]]
    seconds = sum(m[0] for m in measured)
    return {
        "examples_per_s": round(sum(m[1] for m in measured) / seconds, 3),
        "tokens_per_s": round(sum(m[2] for m in measured) / seconds, 1),
        "step_s": round(seconds / len(measured), 3),
        "steps": len(measured),
        "buckets": plan.buckets,
        "mean_length": round(float(np.mean([e.length for e in examples])), 1),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_part(argv: list[str], python: str = sys.executable) -> dict:
    done = subprocess.run([python, *argv], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def speedups(ours: dict, peer: dict) -> dict:
    out = {
        f"fixed_shapes/{k}": round(peer["fixed_shapes"][k]["step_s"] / v["step_s"], 3)
        for k, v in ours["fixed_shapes"].items()
    }
    out["training_set"] = round(ours["training_set"]["examples_per_s"] / peer["training_set"]["examples_per_s"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="results/prepare_model/base")
    parser.add_argument("--data", default="results/synthesize/economicus")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--peer-python", default=os.environ.get("ECONALIGN_PEER_PYTHON"))
    parser.add_argument("--dtype", choices=PRECISIONS, default="float32")
    parser.add_argument("--out", help="default: benchmarks/results/finetune.json (finetune_<dtype>.json if mixed)")
    parser.add_argument("--part", choices=["fixed", "training_set"], help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "fixed":
        print(json.dumps(fixed_shape(args.model, 8, args.length, args.steps, args.dtype)))
        return
    if args.part == "training_set":
        print(json.dumps(training_set(args.model, args.data, args.steps, args.tokens_out, args.dtype)))
        return
    mixed = args.dtype != "float32"
    out = args.out or results_file("finetune", args.dtype)
    me = [str(Path(__file__).resolve()), "--model", args.model, "--data", args.data, "--steps", str(args.steps)]
    me += ["--dtype", args.dtype]
    peer = [str(HERE / "peer_finetune.py"), "--model", args.model, "--steps", str(args.steps)]
    peer += ["--autocast-bf16"] if mixed else []
    result: dict = {"fixed_shapes": {}, "device": "cpu", "dtype": args.dtype}
    if args.peer_python:
        result["peer"] = {"fixed_shapes": {}}
    loads = [os.getloadavg()[0]]
    # Ours and the peer alternate, measurement by measurement: a change in the machine's load during the run
    # then hits both sides of a ratio alike (an earlier run that measured all of ours first was biased by it).
    with tempfile.TemporaryDirectory() as tmp:
        tokens = str(Path(tmp) / "tokens.json")
        for rows, length in SHAPES:
            key = f"{rows}x{length}"
            result["fixed_shapes"][key] = run_part([*me, "--part", "fixed", "--length", str(length)])
            if args.peer_python:
                result["peer"]["fixed_shapes"][key] = run_part(
                    [*peer, "--rows", str(rows), "--length", str(length)], args.peer_python
                )
            loads.append(os.getloadavg()[0])
        result["training_set"] = run_part([*me, "--part", "training_set", "--tokens-out", tokens])
        if args.peer_python:
            result["peer"]["training_set"] = run_part([*peer, "--tokens", tokens], args.peer_python)
            result["speedup"] = speedups(result, result["peer"])
        loads.append(os.getloadavg()[0])
    # The benchmark itself keeps about 2 cores busy; well above that, other jobs shared the machine.
    result["load_average_1min"] = {"min": round(min(loads), 2), "max": round(max(loads), 2)}
    result["machine"] = machine()
    from econalign.io import write_text

    write_text(out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
