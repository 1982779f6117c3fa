"""The supervised fine-tuning loop: schedule, gradient accumulation, evaluation, checkpoints and resume.

:func:`train` runs a whole job on tokenised examples. Everything random derives from ``seed``: the LoRA
initialisation (``derive_seed(seed, "lora")``) and the order of each epoch (``derive_seed(seed, "order",
epoch)``), so two runs on CPU give identical weights, and a run resumed from a checkpoint continues the same
sequence of batches and ends with the weights of an uninterrupted run. On a GPU, full fine-tuning of the embeddings
accumulates their gradient with a scatter-add, which XLA runs in a nondeterministic order unless
``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` is set: reruns there agree to rounding, not bit for bit.

Checkpoints (:mod:`econalign.train.checkpoint`) hold the trainable state, the optimiser state and the metrics
so far; a checkpoint written under another configuration is ignored (the job starts over), so a changed config
never resumes stale state. A non-finite loss or gradient, or a loss above ``max_loss_ratio`` times the first
step's, stops the job with :class:`TrainingDivergedError`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from econalign.config import ConfigError
from econalign.io import derive_seed
from econalign.model.lora import apply_lora
from econalign.train import checkpoint as ckpt
from econalign.train import sharding
from econalign.train.data import Example, bucket_of, bucket_slots, choose_buckets, epoch_microbatches, make_batch
from econalign.train.examples import ValidationSet
from econalign.train.optim import optimizer_from_config, schedule_from_config
from econalign.train.steps import add_trees_jit, make_eval_fn, make_grad_fn, make_update_fn, split_model

METRIC_COLUMNS = (
    "step",
    "epoch",
    "loss",
    "lr",
    "grad_norm",
    "tokens",
    "tokens_per_s",
    "examples_per_s",
    "val_loss",
    "val_accuracy",
    "val_p_optimal",
)


class TrainingDivergedError(RuntimeError):
    """The loss or gradient became non-finite, or the loss exploded."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: The model with the trained weights (LoRA-wrapped for ``method: lora``).
        metrics: One dict per optimiser step (keys :data:`METRIC_COLUMNS`; validation keys ``None`` between
            evaluations).
        choices: The last evaluation's per-item choice log-probabilities (``id``, ``option_logprobs``, ``answer``).
        buckets: The sequence-length buckets used.
        resumed_from: The step the run resumed at (0 for a fresh start).
    """

    model: nnx.Module
    metrics: list[dict[str, Any]]
    choices: list[dict[str, Any]]
    buckets: list[int]
    resumed_from: int


@dataclasses.dataclass(frozen=True)
class Plan:
    """The fixed schedule of a run.

    Attributes:
        steps: Microbatches (lists of example indices) of each optimiser step.
        epochs: The (fractional) epoch at the end of each step.
        buckets: Sequence-length buckets.
        slots: Answer slots per bucket.
        rows: Rows per microbatch.
    """

    steps: list[list[list[int]]]
    epochs: list[float]
    buckets: list[int]
    slots: dict[int, int]
    rows: int


def make_plan(
    examples: Sequence[Example], *, finetune: dict[str, Any], seed: int, extra_lengths: Sequence[int] = ()
) -> Plan:
    """Fix the run's schedule: buckets, answer slots and the microbatches of every optimiser step.

    Args:
        examples: Training examples.
        finetune: The resolved ``finetune`` config section.
        seed: The run's seed.
        extra_lengths: Lengths of other sequences (validation) the buckets must also hold.

    Returns:
        The :class:`Plan`.
    """
    batch_size, accumulation = finetune["batch_size"], finetune["grad_accum"]
    if batch_size % accumulation:
        raise ValueError(f"finetune.batch_size {batch_size} is not a multiple of finetune.grad_accum {accumulation}")
    rows = batch_size // accumulation
    lengths = [example.length for example in examples]
    buckets = choose_buckets([*lengths, *extra_lengths], max_buckets=finetune["max_buckets"])
    slots = bucket_slots(examples, buckets)
    # Count microbatches, not steps: an epoch whose microbatches do not fill its last step ends with a shorter step
    # (the update divides by the step's own weight), rather than borrowing from the next epoch's shuffle. The
    # rounding keeps 1.1 epochs of 100 microbatches at 110, not 111.
    per_epoch = math.ceil(len(examples) / rows)
    wanted = math.ceil(round(finetune["epochs"] * per_epoch, 9))
    total = math.ceil(wanted / accumulation)
    if finetune["max_steps"]:
        total = min(total, finetune["max_steps"])
        wanted = min(wanted, total * accumulation)
    micro: list[list[int]] = []
    micro_epoch: list[float] = []
    epoch = 0
    while len(micro) < wanted:
        batches = epoch_microbatches(examples, buckets=buckets, batch_size=rows, seed=derive_seed(seed, "order", epoch))
        micro += batches
        micro_epoch += [epoch + (i + 1) / len(batches) for i in range(len(batches))]
        epoch += 1
    steps = [micro[i * accumulation : min((i + 1) * accumulation, wanted)] for i in range(total)]
    epochs = [micro_epoch[min((i + 1) * accumulation, wanted) - 1] for i in range(total)]
    return Plan(steps=steps, epochs=epochs, buckets=buckets, slots=slots, rows=rows)


def _batch_bucket(examples: Sequence[Example], buckets: Sequence[int]) -> int:
    return bucket_of(max(example.length for example in examples), buckets)


def evaluate(
    eval_fn: Callable[..., dict[str, Any]],
    trainable: Any,
    frozen: Any,
    validation: ValidationSet,
    *,
    buckets: Sequence[int],
    rows: int,
    mesh: Any,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Validation loss, choice accuracy and the mean probability of the optimal option.

    Args:
        eval_fn: From :func:`econalign.train.steps.make_eval_fn`.
        trainable: Trainable state.
        frozen: Frozen state.
        validation: From :func:`econalign.train.examples.encode_validation`.
        buckets: Sequence-length buckets.
        rows: Rows per evaluation batch.
        mesh: Device mesh.

    Returns:
        ``({"val_loss", "val_accuracy", "val_p_optimal"}, per-item choices)``.
    """
    examples = validation.examples
    num_options = max([len(e.option_ids) for e in examples] + [1])
    order = sorted(range(len(examples)), key=lambda i: (examples[i].length, i))
    # One answer-slot count per bucket, so evaluation compiles once per bucket, not once per batch.
    slots = bucket_slots(examples, buckets)
    logprob_sum = np.zeros(len(examples))
    weight = np.zeros(len(examples))
    options = np.full((len(examples), num_options), -np.inf)
    for start in range(0, len(order), rows):
        chunk = order[start : start + rows]
        members = [examples[i] for i in chunk]
        bucket = _batch_bucket(members, buckets)
        host = make_batch(members, rows=rows, length=bucket, slots=slots[bucket], num_options=num_options)
        out = sharding.to_host(eval_fn(trainable, frozen, sharding.shard_batch(host, mesh)))
        n = len(chunk)
        logprob_sum[chunk], weight[chunk], options[chunk] = (
            out["logprob_sum"][:n],
            out["weight"][:n],
            out["option_logprobs"][:n],
        )
    loss = -logprob_sum[validation.loss_rows].sum() / max(weight[validation.loss_rows].sum(), 1e-9)
    correct, p_optimal, choices = [], [], []
    for item, group in zip(validation.ids, validation.choices, strict=True):
        if group.row >= 0:
            scores = options[group.row][np.isfinite(options[group.row])]
        else:
            scores = logprob_sum[list(group.option_rows)]
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        correct.append(int(np.argmax(scores)) == group.answer)
        p_optimal.append(float(probs[group.answer]))
        choices.append({"id": item, "option_logprobs": [float(s) for s in scores], "answer": group.answer})
    metrics = {
        "val_loss": float(loss),
        "val_accuracy": float(np.mean(correct)),
        "val_p_optimal": float(np.mean(p_optimal)),
    }
    return metrics, choices


def _check_finite(
    step: int, loss: float, grad_norm: float, first_loss: float | None, *, ratio: float, lr: float
) -> None:
    hint = f"(learning rate {lr:.3g}); lower finetune.learning_rate or tighten finetune.clip_norm"
    if not math.isfinite(loss) or not math.isfinite(grad_norm):
        raise TrainingDivergedError(f"training diverged at step {step}: loss {loss}, gradient norm {grad_norm} {hint}")
    if first_loss is not None and ratio and loss > ratio * first_loss:
        raise TrainingDivergedError(
            f"training diverged at step {step}: loss {loss:.4g} exceeds finetune.max_loss_ratio={ratio:g} times the "
            f"first step's loss {first_loss:.4g} {hint}"
        )


def train(
    model: nnx.Module,
    examples: Sequence[Example],
    validation: ValidationSet | None,
    *,
    finetune: dict[str, Any],
    seed: int,
    checkpoint_dir: str | Path | None = None,
    run_id: str = "",
    on_step: Callable[[dict[str, Any]], None] | None = None,
    progress: Any = None,
) -> TrainResult:
    """Fine-tune ``model`` on ``examples`` (LoRA or full, as ``finetune.method`` says).

    Args:
        model: The base model (modified in place: LoRA-wrapped, then trained).
        examples: Tokenised training examples.
        validation: Validation rows, or ``None`` to skip evaluation.
        finetune: The resolved ``finetune`` config section.
        seed: The run's seed (LoRA init, data order).
        checkpoint_dir: Where to save and resume checkpoints (``None``: no checkpoints).
        run_id: Identifies the run's inputs and config; a checkpoint with another id is not resumed.
        on_step: Called with each step's metrics row (experiment tracking).
        progress: A ``tqdm``-like bar factory ``(total=, initial=) -> bar`` (``None``: no bar).

    Returns:
        A :class:`TrainResult`.

    Raises:
        TrainingDivergedError: Non-finite or exploding loss.
        ConfigError: ``train_layers`` exceeds the model's blocks, or the mesh's devices do not split a microbatch.
    """
    full = finetune["method"] == "full"
    train_layers, num_layers = finetune["train_layers"], len(model.layers)
    if train_layers is not None and train_layers > num_layers:
        raise ConfigError(f"finetune/train_layers: {train_layers}, but the model has {num_layers} blocks")
    top_blocks = None if train_layers is None else range(num_layers - train_layers, num_layers)
    if not full:
        lora = finetune["lora"]
        apply_lora(
            model,
            rank=lora["rank"],
            alpha=lora["alpha"],
            targets=lora["targets"],
            rngs=nnx.Rngs(derive_seed(seed, "lora")),
            rslora=lora["rslora"],
            layers=top_blocks,
        )
    extra = [e.length for e in validation.examples] if validation else []
    plan = make_plan(examples, finetune=finetune, seed=seed, extra_lengths=extra)
    mesh = sharding.make_mesh(**finetune["mesh"])
    if plan.rows % mesh.devices.size:  # checked here, before any step, as the devices are only known now
        raise ConfigError(
            f"finetune/mesh: its {mesh.devices.size} devices do not split a microbatch of {plan.rows} rows "
            "(finetune/batch_size / finetune/grad_accum)"
        )
    graphdef, trainable, frozen = split_model(model, full=full, layers=top_blocks if full else None)
    trainable, frozen = sharding.shard_params(trainable, mesh), sharding.shard_params(frozen, mesh)
    total = len(plan.steps)
    optimizer = optimizer_from_config(finetune, total_steps=total)
    schedule = schedule_from_config(finetune, total_steps=total)
    opt_state = sharding.shard_params(optimizer.init(trainable), mesh)
    grad_fn, update_fn, eval_fn = make_grad_fn(graphdef), make_update_fn(optimizer), make_eval_fn(graphdef)

    metrics: list[dict[str, Any]] = []
    start = 0
    if checkpoint_dir is not None:
        meta = ckpt.read_metadata(checkpoint_dir)
        if meta is not None and meta.get("run_id") == run_id and meta.get("total_steps") == total:
            state, meta = ckpt.load_checkpoint(checkpoint_dir, {"params": trainable, "opt": opt_state})
            trainable, opt_state = state["params"], state["opt"]
            start, metrics = int(meta["step"]), list(meta["metrics"])
    choices: list[dict[str, Any]] = []
    every_eval, every_ckpt = finetune["eval_every"], finetune["checkpoint_every"]
    bar = progress(total=total, initial=start) if progress else None
    first_loss = metrics[0]["loss"] if metrics else None
    for step in range(start, total):
        tick = time.perf_counter()
        grads = None
        loss_sum = weight = 0.0
        tokens = n_examples = 0
        for indices in plan.steps[step]:
            members = [examples[i] for i in indices]
            bucket = _batch_bucket(members, plan.buckets)
            host = make_batch(members, rows=plan.rows, length=bucket, slots=plan.slots[bucket])
            part_loss, stats, part_grads = grad_fn(trainable, frozen, sharding.shard_batch(host, mesh))
            grads = part_grads if grads is None else add_trees_jit(grads, part_grads)
            loss_sum, weight = loss_sum + part_loss, weight + stats["weight"]
            tokens += sum(example.length for example in members)
            n_examples += len(members)
        trainable, opt_state, grad_norm = update_fn(trainable, opt_state, grads, jnp.asarray(weight))
        loss, grad_norm = float(loss_sum / jnp.maximum(weight, 1e-9)), float(grad_norm)
        elapsed = time.perf_counter() - tick
        lr = float(schedule(step))
        _check_finite(step + 1, loss, grad_norm, first_loss, ratio=finetune["max_loss_ratio"], lr=lr)
        first_loss = loss if first_loss is None else first_loss
        row = dict.fromkeys(METRIC_COLUMNS)
        row |= {
            "step": step + 1,
            "epoch": plan.epochs[step],
            "loss": loss,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens": tokens,
            "tokens_per_s": tokens / elapsed,
            "examples_per_s": n_examples / elapsed,
        }
        last = step + 1 == total
        if validation is not None and (last or (every_eval and (step + 1) % every_eval == 0)):
            scores, choices = evaluate(
                eval_fn, trainable, frozen, validation, buckets=plan.buckets, rows=plan.rows, mesh=mesh
            )
            row |= scores
        metrics.append(row)
        if on_step is not None:
            on_step(row)
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
            bar.update(1)
        if checkpoint_dir is not None and every_ckpt and ((step + 1) % every_ckpt == 0) and not last:
            host_state = sharding.to_host({"params": trainable, "opt": opt_state})  # a collective on every host
            if jax.process_index() == 0:
                meta = {"step": step + 1, "run_id": run_id, "total_steps": total, "metrics": metrics}
                ckpt.save_checkpoint(checkpoint_dir, host_state, metadata=meta)
    if bar is not None:
        bar.close()
    nnx.update(model, jax.tree.map(jnp.asarray, sharding.to_host(trainable)))
    return TrainResult(model=model, metrics=metrics, choices=choices, buckets=plan.buckets, resumed_from=start)
