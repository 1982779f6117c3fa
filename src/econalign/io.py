"""Atomic, deterministic output writing and provenance records.

Every artefact of the workflow goes through these helpers so that a re-run with the same seed and
configuration produces byte-identical files, and a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from econalign.config import without_runtime_settings

PROVENANCE_PACKAGES = (
    "econalign",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "transformers",
    "tokenizers",
    "numpy",
    "scipy",
    "polars",
    "snakemake",
    "gguf",
)


class MissingInputError(FileNotFoundError):
    """An input a stage reads is missing; the message names it and what makes it (a user error, no traceback)."""


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Args:
        path: Destination file; parent folders are created.
        data: The complete file content.

    Returns:
        The destination path.
    """
    with _atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def copy_atomic(source: str | os.PathLike[str], path: str | os.PathLike[str], *, chunk_size: int = 1 << 24) -> Path:
    """Copy ``source`` to ``path`` atomically, streaming (a multi-gigabyte shard never sits in memory or half-written).

    Returns:
        The destination path.
    """
    with open(source, "rb") as reader, _atomic_file(path) as writer:
        while chunk := reader.read(chunk_size):
            writer.write(chunk)
    return Path(path)


@contextlib.contextmanager
def _atomic_file(path: str | os.PathLike[str]) -> Iterator[Any]:
    # A temporary file in the destination's folder, renamed over it once complete and synced; removed on failure.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp creates the file private (0600); give it the mode a plain open() would, so that results on a
            # shared cluster or web server stay readable by whom the umask lets in. A filesystem that refuses
            # modes keeps mkstemp's.
            with contextlib.suppress(OSError):
                os.fchmod(handle.fileno(), 0o666 & ~_umask())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    # Linux reports the umask in /proc without changing it; elsewhere it can only be read by setting it, so threads
    # writing at the same time (the hosted response cache) take turns.
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_atomic(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Serialise ``obj`` as canonical JSON (sorted keys, two-space indent, trailing newline).

    Non-finite numbers (an interval over one cluster, a slope of a constant) become ``null``: standard JSON has no
    NaN or Infinity, and readers other than Python's reject them.

    Example:
        >>> print(dumps_json({"b": float("nan"), "a": [1.5, float("inf")]}), end="")
        {
          "a": [
            1.5,
            null
          ],
          "b": null
        }
    """
    text = json.dumps(
        _finite(obj), sort_keys=True, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False
    )
    return text + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as canonical JSON atomically."""
    return write_text(path, dumps_json(obj))


# Metadata matplotlib would stamp with the time or its version: left out, so the same figure gives the same bytes.
_FIGURE_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


def save_figure(
    figure: Any, stem: str | os.PathLike[str], *, formats: Sequence[str] = ("png", "pdf"), dpi: float = 150
) -> list[Path]:
    """Write a matplotlib figure as ``stem.png`` and ``stem.pdf`` (or ``formats``) atomically, then close it.

    Args:
        figure: The matplotlib figure.
        stem: Output path without suffix.
        formats: File formats, each also the suffix.
        dpi: Resolution of raster formats.

    Returns:
        The paths written, in the order of ``formats``.
    """
    import matplotlib.pyplot as plt

    stem = Path(stem)
    paths = []
    for fmt in formats:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, metadata=_FIGURE_METADATA.get(fmt), dpi=dpi)
        paths.append(write_atomic(stem.with_suffix(f".{fmt}"), buffer.getvalue()))
    plt.close(figure)
    return paths


def write_parquet(path: str | os.PathLike[str], frame: pl.DataFrame) -> Path:
    """Write a polars DataFrame as parquet atomically, with byte-identical output for identical frames.

    Statistics and compression settings are fixed so that the bytes depend only on the data.
    """
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=False, row_group_size=1 << 20)
    return write_atomic(path, buffer.getvalue())


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


NO_ADAPTER = "none"
"""``adapter_hash`` of the untuned model (no adapter)."""


def adapter_files(adapter_dir: str | os.PathLike[str]) -> list[Path]:
    """The files that define an adapter directory: every regular file below it, hidden ones excluded, sorted.

    A file is hidden when any part of its path relative to ``adapter_dir`` starts with a dot: Snakemake's
    ``.snakemake_timestamp`` (written into directory outputs), temporary files of ``write_atomic``, ``.DS_Store``.
    This covers both layouts that fine-tuning writes: a PEFT adapter (``adapter_config.json``,
    ``adapter_model.safetensors``) and, for ``finetune.method: full``, an HF checkpoint (config, weights, tokenizer).

    Args:
        adapter_dir: The adapter directory.

    Returns:
        The files, sorted by their relative POSIX path.

    Raises:
        NotADirectoryError: ``adapter_dir`` is not a directory.
    """
    root = Path(adapter_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"adapter directory {root} does not exist or is not a directory")
    files = [
        path
        for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def adapter_hash(adapter_dir: str | os.PathLike[str] | None) -> str:
    """Content hash of an adapter directory; the one definition behind every recorded ``adapter_hash``.

    sha256 over ``adapter_files(adapter_dir)`` in order, each contributing ``relative/posix/path + NUL + its
    sha256 (hex) + newline``. Hidden files are left out, so the hash of an adapter is the same whether Snakemake
    or a direct call wrote or read it, and it depends neither on where the folder lies nor on file times.

    Args:
        adapter_dir: A PEFT adapter (or full fine-tuning checkpoint) directory, or None for the untuned model.

    Returns:
        64 hex digits, or ``NO_ADAPTER`` (``"none"``) without an adapter.

    Example:
        >>> adapter_hash(None)
        'none'
    """
    if adapter_dir is None:
        return NO_ADAPTER
    root = Path(adapter_dir)
    digest = hashlib.sha256()
    for path in adapter_files(root):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(sha256_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def recorded_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a configuration that outputs record.

    Of a :class:`econalign.config.StageConfig` (what ``--config-json`` gives a stage): the sections the stage was
    given, not the defaults filled in beside them, and not the settings that change no result
    (``econalign.config.RUNTIME_SETTINGS``). Any other mapping is recorded whole, less those settings.
    """
    given = getattr(config, "given", None)
    sections = config if given is None else {key: config[key] for key in given if key in config}
    return without_runtime_settings(sections)


def config_hash(config: Mapping[str, Any]) -> str:
    """Return a short, stable hash of a resolved configuration (sha256 of its canonical JSON, 16 hex digits).

    What is hashed is what :func:`recorded_config` records: of a :class:`econalign.config.StageConfig` only the
    given sections, and never the settings that change no result, so a stage's outputs and its provenance carry the
    same hash, and a progress bar or checkpoint interval never changes one.
    """
    return hashlib.sha256(dumps_json(recorded_config(config)).encode("utf-8")).hexdigest()[:16]


def derive_seed(seed: int, *names: str | int) -> int:
    """Derive an independent 32-bit seed from a base seed and a path of names.

    Stages derive their generators from the single configured seed with a name per purpose
    (``derive_seed(seed, "synthesize", "test")``), so adding a stage never shifts another's draws.

    Example:
        >>> derive_seed(0, "synthesize", "train") == derive_seed(0, "synthesize", "train")
        True
        >>> derive_seed(0, "a") != derive_seed(0, "b")
        True
    """
    key = json.dumps([int(seed), *[str(name) for name in names]]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


def package_versions(packages: Iterable[str] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that determine results (``"absent"`` when not installed)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def provenance(
    config: Mapping[str, Any] | None = None, *, seed: int | None = None, model_sha256: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Build the provenance record written next to results.

    It holds the seed, the resolved configuration and its hash, package versions and the model file's
    sha256, and nothing time-dependent, so that it is itself byte-identical on a re-run. Of a
    :class:`econalign.config.StageConfig` (what ``--config-json`` gives a stage) only the sections the stage was
    given are recorded and hashed, not the defaults validation filled in beside them.

    Args:
        config: The resolved configuration the output was made with.
        seed: The seed the output was made with (defaults to ``config["seed"]``).
        model_sha256: sha256 of the model weights file, where a model was involved.
        **extra: Further JSON-able fields (inputs, agent name, ...).

    Returns:
        A JSON-able dict.
    """
    record: dict[str, Any] = {"packages": package_versions()}
    if config is not None:
        config = recorded_config(config)
        record["config"] = config
        record["config_hash"] = config_hash(config)
        if seed is None:
            seed = config.get("seed")
    record["seed"] = seed
    if model_sha256 is not None:
        record["model_sha256"] = model_sha256
    record.update(extra)
    return record


def _json_default(obj: Any) -> Any:
    # numpy scalars and paths appear in configs and metrics; serialise them as plain values.
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")
