"""Linear probes on the frozen model: which block's hidden state already holds the theory's answer?

For every item of a synthesized dataset's train and validation splits (never the test splits), the prompt is
followed by the decision line's shared prefix (``Answer:``), so the last position is the one whose next token is
the label. The hidden state at that position after every block (the embedding output first) is read once, and a
ridge classifier (least squares on ±1 targets with an L2 penalty, in closed form) per block, target and penalty is
scored by 5-fold cross-validation over the pooled items (folds by item; features standardised within each fold's
training part). Targets, all label-free:

* ``optimal_position``: the theory's option is the first one listed (what the agent must output, via its label);
* ``optimal_is_c``: the theory's action is C (cooperate), whatever its label and position;
* ``ignoring_belief_position``: the first listed option is the theory's answer at a uniform belief;
* ``belief_c``: the partner picked C more often than not (read off the prompt: a control that needs no payoffs;
  items without a stated history are left out of this target).

A learning curve asks how many training items such a probe needs: at a few blocks, probes fitted on 120 ... 1,536
items (the default training split has 480) are scored on the same held-out items (the rest of a shuffle, averaged
over ``--repeats`` shuffles).

Usage: ``uv run python benchmarks/probe_layers.py --model results/prepare_model/base
--data results/synthesize/economicus [--json out.json]``; prints one JSON object (accuracy per target, penalty
and block, the learning curves, and the majority-class rate of each target).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGETS = ("optimal_position", "optimal_is_c", "ignoring_belief_position", "belief_c")


def targets_of(row: dict[str, Any]) -> dict[str, int | None]:
    """The label-free probe targets of a two-option dataset row (``None`` where a target is undefined)."""
    actions = [option["action"] for option in json.loads(row["options"])]
    return {
        "optimal_position": int(actions.index(row["optimal_action"]) == 0),
        "optimal_is_c": int(row["optimal_action"] == "C"),
        "ignoring_belief_position": int(actions.index(row["theory_ignoring_belief"]) == 0),
        "belief_c": None if row["belief"] is None else int(row["belief"] > 0.5),
    }


def hidden_states(model_dir: Path, rows: list[dict[str, Any]], *, batch: int = 16) -> np.ndarray:
    """``[N, L + 1, D]`` float32: each block's output at the position that predicts the label."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from econalign.data.templates import decision_line
    from econalign.model.buckets import ladder_up
    from econalign.model.params import load_llama
    from econalign.model.tokenizer import encode_continuations, encode_prompts, load_tokenizer
    from econalign.train.examples import optimal_label

    tokenizer, model = load_tokenizer(model_dir), load_llama(model_dir)
    prompts = encode_prompts(tokenizer, [json.loads(row["messages"]) for row in rows])
    sequences = []
    for row, prompt in zip(rows, prompts, strict=True):
        labels, _ = optimal_label(row)
        continuations = encode_continuations(tokenizer, [decision_line(label) for label in labels])
        shared = continuations[0][: len(continuations[0]) - 1]
        if any(c[:-1] != shared for c in continuations):
            raise ValueError(f"item {row['id']}: the labels are not one token after a shared prefix")
        sequences.append(prompt + shared)

    @nnx.jit
    def read(model: Any, tokens: jax.Array, last: jax.Array) -> jax.Array:
        states = model(tokens, output_hidden_states=True).hidden_states
        return jnp.stack([state[jnp.arange(tokens.shape[0]), last] for state in states], axis=1)

    order = np.argsort([len(s) for s in sequences])
    out = np.zeros((len(rows), model.config.num_layers + 1, model.config.hidden_size), np.float32)
    for start in range(0, len(order), batch):
        members = order[start : start + batch]
        length = ladder_up(max(len(sequences[i]) for i in members))
        tokens = np.zeros((batch, length), np.int32)
        last = np.zeros(batch, np.int32)
        for slot, i in enumerate(members):
            tokens[slot, : len(sequences[i])] = sequences[i]
            last[slot] = len(sequences[i]) - 1
        states = np.asarray(read(model, jnp.asarray(tokens), jnp.asarray(last)))
        out[members] = states[: len(members)]
        print(f"\rhidden states {min(start + batch, len(order))}/{len(order)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def ridge_fit(x: np.ndarray, y: np.ndarray, *, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge classifier on ``±1`` targets: weights minimising ``mean((x w + b - t)^2) + alpha |w|^2``, and ``b``."""
    target = 2.0 * y - 1.0
    bias = target.mean()
    centred = x - x.mean(0)
    gram = centred.T @ centred + alpha * len(x) * np.eye(x.shape[1])
    w = np.linalg.solve(gram, centred.T @ (target - bias))
    return w, float(bias - x.mean(0) @ w)


def held_out_accuracy(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *, alpha: float
) -> float:
    """Share of test items a probe fitted on the training items predicts (features standardised on those)."""
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    mean, scale = x_train.mean(0), x_train.std(0) + 1e-6
    w, b = ridge_fit((x_train - mean) / scale, y_train, alpha=alpha)
    return float(((((x_test - mean) / scale) @ w + b > 0).astype(int) == y_test).mean())


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, *, folds: int, alpha: float, seed: int) -> float:
    """Share of items whose held-out fold's probe predicts ``y`` (features standardised on the training part)."""
    fold_of = np.random.default_rng(seed).permutation(len(x)) % folds
    correct = 0.0
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        correct += held_out_accuracy(x[train], y[train], x[test], y[test], alpha=alpha) * test.sum()
    return correct / len(x)


def learning_curve(
    x: np.ndarray, y: np.ndarray, *, sizes: list[int], alpha: float, repeats: int, seed: int
) -> list[float]:
    """Mean held-out accuracy of probes fitted on ``n`` items, for each ``n`` in ``sizes``.

    Each repeat shuffles the items once; the items after the first ``max(sizes)`` are the test set shared by every
    size, and a probe of size ``n`` is fitted on the first ``n``, so the sizes differ only in training data.
    """
    if max(sizes) >= len(x):
        raise ValueError(f"the largest training size ({max(sizes)}) leaves no test items out of {len(x)}")
    rng = np.random.default_rng(seed)
    accuracy = np.zeros(len(sizes))
    for _ in range(repeats):
        order = rng.permutation(len(x))
        test = order[max(sizes) :]
        for i, n in enumerate(sizes):
            accuracy[i] += held_out_accuracy(x[order[:n]], y[order[:n]], x[test], y[test], alpha=alpha)
    return [round(float(a / repeats), 4) for a in accuracy]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="prepared base model directory")
    parser.add_argument("--data", required=True, type=Path, help="one agent's synthesized dataset folder")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3], help="ridge penalties")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--states", type=Path, help="hidden-state cache (.npy, timing in .json): read if present, else written"
    )
    parser.add_argument(
        "--curve-sizes", type=int, nargs="+", default=[120, 240, 480, 960, 1536], help="learning-curve training sizes"
    )
    parser.add_argument("--curve-blocks", type=int, nargs="+", default=[7, 30], help="blocks the learning curve reads")
    parser.add_argument("--repeats", type=int, default=5, help="shuffles averaged per learning-curve point")
    args = parser.parse_args()

    import polars as pl

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import machine

    from econalign.io import write_json, write_text

    splits = [pl.read_parquet(args.data / f"{split}.parquet") for split in ("train", "validation")]
    rows = [row for row in pl.concat(splits, how="diagonal_relaxed").to_dicts() if row["n_options"] == 2]
    labels = {target: [targets_of(row)[target] for row in rows] for target in TARGETS}
    cached = bool(args.states and args.states.is_file())
    timing = args.states.with_suffix(".json") if args.states else None
    if cached:
        states = np.load(args.states)
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else None
    else:
        tick = time.perf_counter()
        states = hidden_states(args.model, rows)
        seconds = round(time.perf_counter() - tick, 1)
        if args.states:
            np.save(args.states, states)
            write_json(timing, {"seconds": seconds, "items": len(rows), "model": str(args.model)})
    result: dict[str, Any] = {
        "what": __doc__.splitlines()[0],
        "machine": machine(),
        "states_cached": cached,
        "model": str(args.model),
        "data": str(args.data),
        "items": len(rows),
        "folds": args.folds,
        "alphas": args.alphas,
        "hidden_states_s": seconds,
        "majority": {},
        "accuracy": {},
        "learning_curve": {"sizes": args.curve_sizes, "repeats": args.repeats, "test_items": {}, "accuracy": {}},
    }
    for target in TARGETS:
        kept = np.array([value is not None for value in labels[target]])
        y = np.array([value for value in labels[target] if value is not None])
        result["majority"][target] = round(max(y.mean(), 1 - y.mean()), 4)
        per_alpha = {}
        for alpha in args.alphas:
            per_alpha[str(alpha)] = [
                round(cross_validated_accuracy(states[kept, i], y, folds=args.folds, alpha=alpha, seed=args.seed), 4)
                for i in range(states.shape[1])
            ]
        result["accuracy"][target] = per_alpha
        result["learning_curve"]["accuracy"][target] = {
            str(block): {
                str(alpha): learning_curve(
                    states[kept, block], y, sizes=args.curve_sizes, alpha=alpha, repeats=args.repeats, seed=args.seed
                )
                for alpha in args.alphas
            }
            for block in args.curve_blocks
        }
        result["learning_curve"]["test_items"][target] = int(kept.sum()) - max(args.curve_sizes)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        write_text(args.json, text + "\n")


if __name__ == "__main__":
    main()
