"""Training checkpoints: the trainable state and the optimiser state of a run, in one atomic file.

A checkpoint is a single safetensors file (``state.safetensors``) holding every array leaf of a pytree,
keyed by its path, plus a JSON metadata string (step, config hash, the metrics logged so far). It is
written through :func:`econalign.io.write_atomic`, so a job killed while saving leaves the previous
checkpoint intact, and a restarted job either finds a complete checkpoint or none.

Restoring needs a *template*: a pytree of the same structure (the freshly initialised state of the run).
Arrays are matched by path and checked for shape and dtype, so a checkpoint from a different model or
LoRA configuration fails with a message that names the first mismatching leaf.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from safetensors.numpy import load_file, save

from econalign.io import write_atomic

CHECKPOINT_FILE = "state.safetensors"
_METADATA_KEY = "econalign"


class CheckpointMismatchError(ValueError):
    """A checkpoint whose arrays do not fit the run's state (different model, LoRA rank, optimiser...)."""


def leaf_key(path: tuple[Any, ...]) -> str:
    """A stable string key for a pytree path (``opt/0/mu/layers/0/q_proj/lora_a``).

    Args:
        path: A key path as given by ``jax.tree_util.tree_flatten_with_path``.

    Returns:
        The path's entries joined by ``/``.
    """
    parts = []
    for entry in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def flatten_state(state: Any) -> dict[str, np.ndarray]:
    """Flatten a pytree of arrays to ``{path key: numpy array}`` (host copies).

    Args:
        state: A pytree whose leaves are arrays (jax or numpy) or scalars.

    Returns:
        A dict in the pytree's leaf order.

    Raises:
        ValueError: If two leaves map to the same key.
    """
    flat: dict[str, np.ndarray] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        key = leaf_key(path)
        if key in flat:
            raise ValueError(f"two pytree leaves share the checkpoint key {key!r}")
        flat[key] = np.array(jax.device_get(leaf), order="C")
    return flat


def save_checkpoint(directory: str | os.PathLike[str], state: Any, *, metadata: dict[str, Any]) -> Path:
    """Write ``state`` and ``metadata`` to ``directory/state.safetensors`` atomically.

    Args:
        directory: Checkpoint folder (created).
        state: A pytree of arrays (for example ``{"params": ..., "opt": ...}``).
        metadata: JSON-able run information stored beside the arrays (step, config hash, metrics).

    Returns:
        The checkpoint file's path.
    """
    path = Path(directory) / CHECKPOINT_FILE
    data = save(flatten_state(state), metadata={_METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    return write_atomic(path, data)


def read_metadata(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return a checkpoint's metadata, or ``None`` when ``directory`` holds no checkpoint.

    Args:
        directory: Checkpoint folder.

    Returns:
        The metadata dict given to :func:`save_checkpoint`, or ``None``.
    """
    from safetensors import safe_open

    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    with safe_open(path, framework="numpy") as handle:
        return json.loads((handle.metadata() or {})[_METADATA_KEY])


def load_checkpoint(directory: str | os.PathLike[str], template: Any) -> tuple[Any, dict[str, Any]]:
    """Restore a pytree saved by :func:`save_checkpoint` into the structure of ``template``.

    Args:
        directory: Checkpoint folder.
        template: A pytree with the structure, shapes and dtypes of the saved state; its leaves' shardings
            (when they are jax arrays) are reused for the restored arrays.

    Returns:
        ``(state, metadata)``.

    Raises:
        FileNotFoundError: If there is no checkpoint.
        CheckpointMismatchError: If a leaf is missing or has another shape or dtype; the message names it.
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    arrays = load_file(path)
    metadata = read_metadata(directory)
    assert metadata is not None
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    restored = []
    for leaf_path, leaf in leaves_with_paths:
        key = leaf_key(leaf_path)
        if key not in arrays:
            raise CheckpointMismatchError(f"checkpoint {path} lacks {key!r}")
        array = arrays.pop(key)
        shape, dtype = np.shape(leaf), np.dtype(getattr(leaf, "dtype", None) or np.asarray(leaf).dtype)
        if array.shape != tuple(shape) or array.dtype != dtype:
            raise CheckpointMismatchError(
                f"checkpoint {path}: {key!r} is {array.dtype}{list(array.shape)}, the run needs {dtype}{list(shape)}"
            )
        sharding = getattr(leaf, "sharding", None)
        restored.append(jax.device_put(array, sharding) if sharding is not None else array)
    if arrays:
        raise CheckpointMismatchError(f"checkpoint {path} holds arrays the run does not have: {sorted(arrays)[:5]}")
    return jax.tree_util.tree_unflatten(treedef, restored), metadata
