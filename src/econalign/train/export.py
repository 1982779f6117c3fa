"""Outputs of a fine-tuning job: the adapter (PEFT layout) or full weights, a merged checkpoint, metrics, figure.

Every file is written atomically and holds only data that the seed and the config determine (the throughput
columns of ``metrics.parquet`` are the one exception: they are wall-clock measurements).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from flax import nnx

from econalign.io import save_figure, write_atomic, write_parquet
from econalign.model.lora import lora_layers, merge_lora, save_peft_adapter

# Files of a prepared model directory that a checkpoint written from it carries over unchanged.
_MODEL_SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
METRICS_SCHEMA = {
    "step": pl.Int64,
    "epoch": pl.Float64,
    "loss": pl.Float64,
    "lr": pl.Float64,
    "grad_norm": pl.Float64,
    "tokens": pl.Int64,
    "tokens_per_s": pl.Float64,
    "examples_per_s": pl.Float64,
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
    "val_p_optimal": pl.Float64,
}


def _copy_file(src: Path, dst: Path) -> None:
    write_atomic(dst, src.read_bytes())


def save_checkpoint_dir(model: nnx.Module, base_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``model``'s base parameters as an HF-layout checkpoint beside the base model's config and tokenizer.

    Args:
        model: The model (LoRA factors, if any, are not written: merge them first).
        base_dir: The prepared base model directory (``config.json``, tokenizer files).
        out_dir: Destination (created).

    Returns:
        ``out_dir`` as a ``Path``.
    """
    from safetensors.numpy import save

    from econalign.model.params import to_hf_tensors

    base, out = Path(base_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = dict(sorted(to_hf_tensors(model).items()))
    write_atomic(out / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    for name in _MODEL_SIDE_FILES:
        if (base / name).is_file():
            _copy_file(base / name, out / name)
    return out


def save_adapter(
    model: nnx.Module, out_dir: str | os.PathLike[str], *, base_dir: str | os.PathLike[str], full: bool
) -> Path:
    """Write the fine-tuned weights where ``load_agent(model_dir, adapter=out_dir)`` finds them.

    Args:
        model: The trained model.
        out_dir: The ``adapter/`` folder.
        base_dir: The base model directory the run started from.
        full: Full fine-tuning (an HF checkpoint is written) rather than LoRA (a PEFT adapter).

    Returns:
        ``out_dir`` as a ``Path``.
    """
    if full:
        return save_checkpoint_dir(model, base_dir, out_dir)
    # The recorded base is the directory's name, not the local path, so the file does not depend on where
    # the workflow runs.
    return save_peft_adapter(model, out_dir, base_model_name_or_path=Path(base_dir).name)


def save_merged(model: nnx.Module, out_dir: str | os.PathLike[str], *, base_dir: str | os.PathLike[str]) -> Path:
    """Fold the adapter into the base weights (in place) and write an HF-layout checkpoint.

    Args:
        model: The trained model (LoRA-wrapped or fully fine-tuned).
        out_dir: Destination (created).
        base_dir: The base model directory (config, tokenizer).

    Returns:
        ``out_dir`` as a ``Path``.
    """
    if any(True for _ in lora_layers(model)):
        merge_lora(model)
    return save_checkpoint_dir(model, base_dir, out_dir)


def metrics_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The metrics rows of :func:`econalign.train.loop.train` as a typed polars frame."""
    return pl.DataFrame([{key: row.get(key) for key in METRICS_SCHEMA} for row in rows], schema=METRICS_SCHEMA)


def write_metrics(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``metrics.parquet`` (one row per optimiser step)."""
    return write_parquet(path, metrics_frame(rows))


def plot_loss(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Draw the training and validation loss, and the validation choice accuracy, to a PNG.

    Args:
        rows: Metrics rows.
        path: The ``.png`` to write.
        title: Figure title.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = metrics_frame(rows)
    evaluated = frame.filter(pl.col("val_loss").is_not_null())
    figure, loss_axis = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    loss_axis.plot(frame["step"], frame["loss"], color="tab:blue", lw=1, label="train loss (weighted)")
    if evaluated.height:
        loss_axis.plot(evaluated["step"], evaluated["val_loss"], "o-", color="tab:orange", label="validation loss")
        accuracy_axis = loss_axis.twinx()
        accuracy_axis.plot(
            evaluated["step"], evaluated["val_accuracy"], "s--", color="tab:green", label="choice accuracy"
        )
        accuracy_axis.set_ylim(0, 1)
        accuracy_axis.set_ylabel("validation choice accuracy")
        accuracy_axis.legend(loc="upper right", fontsize=8)
    loss_axis.set_xlabel("optimiser step")
    loss_axis.set_ylabel("loss (nats per answer token)")
    loss_axis.legend(loc="upper left", fontsize=8)
    loss_axis.set_title(title)
    figure.tight_layout()
    (written,) = save_figure(figure, Path(path).with_suffix(""), formats=("png",), dpi=figure.dpi)
    return written


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete a folder if it exists (the resumable checkpoint after a finished run)."""
    shutil.rmtree(path, ignore_errors=True)
