"""Atomic, deterministic output writing and provenance records.

Every artefact of the workflow goes through these helpers so that a re-run with the same seed and
configuration produces byte-identical files, and a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

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


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Args:
        path: Destination file; parent folders are created.
        data: The complete file content.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_atomic(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Serialise ``obj`` as canonical JSON (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as canonical JSON atomically."""
    return write_text(path, dumps_json(obj))


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


def config_hash(config: Mapping[str, Any]) -> str:
    """Return a short, stable hash of a resolved configuration (sha256 of its canonical JSON, 16 hex digits)."""
    return hashlib.sha256(dumps_json(config).encode("utf-8")).hexdigest()[:16]


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
    sha256, and nothing time-dependent, so that it is itself byte-identical on a re-run.

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
        record["config"] = dict(config)
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
