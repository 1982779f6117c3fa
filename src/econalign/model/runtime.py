"""Process-wide JAX settings shared by every stage that runs the model.

Each Snakemake job is a fresh process, and on CPU compiling the model's forward for one bucket shape
costs 5–55 s. JAX's persistent compilation cache lets later jobs (and later runs) reuse the
compiled executables of earlier ones; results are unchanged because the executables are identical.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

CACHE_ENV = "ECONALIGN_JAX_CACHE"
# /proc/cpuinfo flags of bfloat16 dot-product instructions: x86's AVX512_BF16 and AMX-BF16, Arm's BF16 extension.
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


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
    ``bfloat16`` and ``bfloat16-mixed`` leave the setting as it is (bf16 products accumulate in float32 regardless),
    so a float32 model loaded earlier in the process keeps its full products.

    Args:
        dtype: The model's ``model.dtype`` (``"float32"``, ``"bfloat16"`` or ``"bfloat16-mixed"``).

    Returns:
        The precision now in force (``"highest"`` or ``"default"``).
    """
    import jax

    if dtype == "float32":
        jax.config.update("jax_default_matmul_precision", "highest")
    return jax.config.jax_default_matmul_precision or "default"


def cpu_multiplies_bfloat16(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU has bfloat16 dot-product instructions (:data:`BFLOAT16_CPU_FLAGS`).

    Args:
        cpuinfo: The text of ``/proc/cpuinfo`` (read when ``None``).

    Returns:
        ``None`` where the flags cannot be read (no ``/proc/cpuinfo``, as on macOS).

    Example:
        >>> cpu_multiplies_bfloat16("flags : fpu avx2 avx512f avx512_bf16"), cpu_multiplies_bfloat16("flags: avx2")
        (True, False)
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"flags", "Features"}:  # x86, Arm
            flags.update(value.split())
    return bool(flags & BFLOAT16_CPU_FLAGS) if flags else None


def warn_if_emulated_bfloat16(dtype: str) -> str | None:
    """Warn when a bfloat16 precision is asked of a CPU that has no bfloat16 dot-product instructions.

    ``bfloat16-mixed`` pays off on CPUs that multiply bfloat16 pairs into float32 (docs/performance.md measured
    about 1.5x faster training steps there); elsewhere XLA emulates those products and the casts cost time, so
    float32 may well be faster. The study still runs: this only says so, once per call site.

    Args:
        dtype: ``model.dtype`` or ``finetune.dtype``.

    Returns:
        The warning's text, or ``None`` when nothing was said (float32, an accelerator, a CPU with the
        instructions, or one whose flags cannot be read).
    """
    from econalign.model.precision import MIXED_BFLOAT16

    if dtype not in {"bfloat16", MIXED_BFLOAT16}:
        return None
    import jax

    if jax.default_backend() != "cpu" or cpu_multiplies_bfloat16() is not False:
        return None
    message = (
        f"precision {dtype!r} on a CPU without bfloat16 dot-product instructions (AVX512_BF16, AMX-BF16 or Arm "
        "BF16): XLA emulates its bfloat16 products, which may be slower than float32. Set finetune.dtype (and "
        "model.dtype) to float32 unless benchmarks/finetune.py --dtype shows otherwise on this machine."
    )
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return message
