"""Process-wide JAX settings shared by every stage that runs the model.

Each Snakemake job is a fresh process, and on CPU compiling the model's forward for one bucket shape
costs 5–55 s. JAX's persistent compilation cache lets later jobs (and later runs) reuse the
compiled executables of earlier ones; results are unchanged because the executables are identical.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ECONALIGN_JAX_CACHE"


def compilation_cache_dir() -> Path | None:
    """Where compiled executables are cached, or ``None`` when disabled.

    ``ECONALIGN_JAX_CACHE`` names the folder (``off`` disables the cache); the default is
    ``$XDG_CACHE_HOME/econalign/jax`` (``~/.cache/econalign/jax``). A ``JAX_COMPILATION_CACHE_DIR`` set by the
    user wins, since JAX reads it itself.
    """
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() in {"off", "0", "false", "none"}:
        return None
    if setting:
        return Path(setting)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "econalign" / "jax"


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache for this process (idempotent).

    Returns:
        The cache folder, or ``None`` when disabled.
    """
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    folder = compilation_cache_dir()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # The model's graphs compile in seconds, below JAX's default 1 s / size thresholds only for tiny ones:
    # cache everything so that tiny test models behave like the real one.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def set_matmul_precision(dtype: str) -> str:
    """Make ``float32`` models run true float32 matrix products on every backend (process-wide).

    XLA's default precision on NVIDIA GPUs computes float32 products in TF32 (10-bit mantissa): on an H200 the
    embedded model's first-layer activations then differ from HF's by 7e-3, beyond the 1e-3 parity the tests
    hold on CPU, where every product is float32 anyway. A ``float32`` config therefore asks for ``highest``;
    ``bfloat16`` and ``bfloat16-mixed`` keep the backend's default (bf16 products accumulate in float32 regardless).

    Args:
        dtype: The model's ``model.dtype`` (``"float32"``, ``"bfloat16"`` or ``"bfloat16-mixed"``).

    Returns:
        The precision now in force (``"highest"`` or ``"default"``).
    """
    import jax

    precision = "highest" if dtype == "float32" else "default"
    jax.config.update("jax_default_matmul_precision", None if precision == "default" else precision)
    return precision
