"""Fine-tune the base model on one agent's dataset (workflow rule ``finetune``).

CLI: ``econalign finetune --config-json JSON --agent NAME --model DIR --data DIR --out DIR``. ``--data`` is the
agent's synthesize folder (``train.parquet``, ``validation.parquet``); ``--model`` the prepared base model.

Outputs in ``--out``: ``adapter/`` (PEFT LoRA layout, or an HF checkpoint for ``finetune.method: full``),
``merged/`` when ``finetune.export_merged``, ``metrics.parquet``, ``loss.png``, ``validation_choices.parquet``
(the last evaluation's option log-probabilities per validation item) and ``provenance.json``. The provenance
records ``adapter_hash``, ``econalign.io.adapter_hash`` of the written ``adapter/``: the value that ``evaluate``
(``adapter_hash``), ``av`` (``adapter_hash``) and ``pricing`` (``firm_adapter_hash``) record for the agent, so
their results tie back to this run. A resumable checkpoint lives in ``checkpoint/`` while the job runs: a job
killed and started again continues from it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from econalign.io import (
    MissingInputError,
    adapter_hash,
    derive_seed,
    provenance,
    sha256_file,
    write_json,
    write_parquet,
)
from econalign.model.identity import model_fingerprint, weights_sha256


def run_seed(config: dict[str, Any], agent: str) -> int:
    """The seed of an agent's fine-tuning run, derived from the config's single seed."""
    return derive_seed(config["seed"], "finetune", agent)


def training_dtype(config: dict[str, Any]) -> str:
    """The precision an agent trains in: ``finetune.dtype``, or ``model.dtype`` when that is null.

    >>> training_dtype({"model": {"dtype": "float32"}, "finetune": {"dtype": None}})
    'float32'
    """
    return config["finetune"]["dtype"] or config["model"]["dtype"]


def validation_subset(rows: list[dict[str, Any]], *, count: int, seed: int) -> list[dict[str, Any]]:
    """A fixed seeded subset of ``count`` validation rows, in file order (all rows when ``count`` is 0 or more).

    Args:
        rows: Validation rows.
        count: How many to keep (0 = all).
        seed: Seeds the choice.

    Returns:
        The chosen rows.
    """
    if not count or count >= len(rows):
        return rows
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=count, replace=False))
    return [rows[i] for i in chosen]


def finetune(
    config: dict[str, Any],
    *,
    agent: str,
    model_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    echo: Callable[[str], Any] = print,
) -> Path:
    """Run one agent's fine-tuning job and write its outputs.

    Args:
        config: The resolved configuration.
        agent: The agent's name (must be in ``config["agents"]``).
        model_dir: The prepared base model directory.
        data_dir: The agent's synthesize folder.
        out_dir: Output folder.
        echo: Where progress messages go.

    Returns:
        ``out_dir`` as a ``Path``.
    """
    import jax
    from tqdm import tqdm

    from econalign.config import agent_spec
    from econalign.io import config_hash
    from econalign.model.params import load_llama
    from econalign.model.runtime import enable_compilation_cache
    from econalign.model.tokenizer import load_tokenizer
    from econalign.train import export, sharding
    from econalign.train.examples import encode_rows, encode_validation, read_split
    from econalign.train.loop import train
    from econalign.train.tracking import open_tracker

    sharding.initialize()
    enable_compilation_cache()
    agent_spec(config, agent)
    settings = config["finetune"]
    seed = run_seed(config, agent)
    model_dir, data_dir, out = Path(model_dir), Path(data_dir), Path(out_dir)
    if not (data_dir / "train.parquet").is_file():
        raise MissingInputError(
            f"{data_dir} holds no train.parquet: the data folder is the agent's own (results/synthesize/{agent})"
        )
    tokenizer = load_tokenizer(model_dir)
    dtype = training_dtype(config)  # agents are scored in model.dtype
    model = load_llama(model_dir, dtype=dtype)
    train_path, val_path = data_dir / "train.parquet", data_dir / "validation.parquet"
    examples = encode_rows(
        tokenizer,
        read_split(train_path),
        decision_weight=settings["decision_weight"],
        reasoning_weight=settings["reasoning_weight"],
        max_target_tokens=settings["max_target_tokens"],
    )
    if not examples:
        raise MissingInputError(f"{train_path} holds no training rows: synthesize the agent's data again")
    validation = None
    if val_path.is_file():
        val_rows = validation_subset(read_split(val_path), count=settings["eval_items"], seed=derive_seed(seed, "val"))
        validation = encode_validation(tokenizer, val_rows, max_target_tokens=settings["max_target_tokens"])
    inputs = {"train": sha256_file(train_path), "validation": sha256_file(val_path) if val_path.is_file() else None}
    base_sha = weights_sha256(model_dir)
    # A checkpoint is resumed by a run of the same training (config_hash leaves out progress and checkpoint intervals)
    # on the same model: weights, tokenizer and chat template (the fingerprint). The dtype is applied at load time, so
    # the prepared files do not say it; a checkpoint of another dtype must not be resumed.
    identity = {"sha256": model_fingerprint(model_dir), "dtype": dtype}
    run_id = config_hash({"finetune": settings, "seed": seed, "model": identity, "inputs": inputs})
    echo(
        f"finetune {agent}: {len(examples)} examples, seed {seed}, {jax.device_count()} device(s), {dtype}, "
        f"run {run_id}"
    )
    # Launched multi-host, every process runs this function; one W&B run and one progress bar per job, not per host.
    primary = jax.process_index() == 0
    tracking = config["tracking"] if primary else {"wandb": False}
    tracker = open_tracker(tracking, name=agent, config={"agent": agent, **settings})
    progress = None
    if settings["progress"] and primary:
        progress = functools.partial(tqdm, desc=f"finetune {agent}", unit="step", file=sys.stderr, mininterval=2.0)
    try:
        result = train(
            model,
            examples,
            validation,
            finetune=settings,
            seed=seed,
            checkpoint_dir=out / "checkpoint",
            run_id=run_id,
            on_step=tracker.log,
            progress=progress,
        )
    finally:
        tracker.close()
    if result.resumed_from:
        echo(f"resumed from the checkpoint at step {result.resumed_from}")
    if jax.process_index() != 0:
        return out
    full = settings["method"] == "full"
    adapter = export.save_adapter(result.model, out / "adapter", base_dir=model_dir, full=full)
    export.write_metrics(result.metrics, out / "metrics.parquet")
    export.plot_loss(result.metrics, out / "loss.png", title=f"fine-tuning {agent}")
    if result.choices:
        import polars as pl

        write_parquet(out / "validation_choices.parquet", pl.DataFrame(result.choices))
    if settings["export_merged"]:
        export.save_merged(result.model, out / "merged", base_dir=model_dir)
    final = result.metrics[-1]
    record = provenance(
        config,
        seed=seed,
        model_sha256=base_sha,
        agent=agent,
        adapter_hash=adapter_hash(adapter),
        inputs=inputs,
        buckets=result.buckets,
        steps=len(result.metrics),
        final={key: final[key] for key in ("loss", "val_loss", "val_accuracy", "val_p_optimal")},
    )
    write_json(out / "provenance.json", record)
    if not settings["keep_checkpoint"]:
        export.remove_tree(out / "checkpoint")
    echo(json.dumps({"agent": agent, **record["final"]}, sort_keys=True))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``finetune`` arguments to ``parser``.

    Args:
        parser: The subcommand's parser.
    """
    from econalign.cli import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--agent", required=True, help="agent name from the config")
    parser.add_argument("--model", required=True, type=Path, help="prepared base model directory (HF layout)")
    parser.add_argument(
        "--data", required=True, type=Path, help="the agent's synthesized data (results/synthesize/AGENT)"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")


def main(args: argparse.Namespace) -> int:
    """Run ``finetune`` from parsed arguments.

    Args:
        args: From :func:`add_arguments`.

    Returns:
        The exit status (0); a diverged run exits with status 1 and the reason on stderr. A configuration the model
        does not fit (``econalign.config.ConfigError``) propagates: ``econalign.cli.main`` reports it in one line and
        exits with status 2, as every stage does.
    """
    from econalign.cli import config_from_args
    from econalign.train.loop import TrainingDivergedError

    config = config_from_args(args)
    try:
        finetune(config, agent=args.agent, model_dir=args.model, data_dir=args.data, out_dir=args.out)
    except TrainingDivergedError as error:
        raise SystemExit(f"econalign finetune: {error}") from None
    return 0
