"""What every benchmark records about its run: the machine, the date, the peak memory.

Standard library only: the peer scripts (``peer_finetune.py``, ``scoring.py --peer``) import it from the torch
interpreter, which does not have the project installed.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import sys
from pathlib import Path

# The precisions both sides of a peer benchmark can run in (``--dtype``): econalign's ``model.dtype`` values, the
# peer under torch.autocast for the mixed one.
PRECISIONS = ("float32", "bfloat16-mixed")


def results_file(stem: str, dtype: str) -> Path:
    """``benchmarks/results/<stem>.json`` for float32, ``<stem>_<dtype>.json`` for another precision."""
    name = stem if dtype == "float32" else f"{stem}_{dtype}"
    return Path(__file__).resolve().parent / "results" / f"{name}.json"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` restarts at ``exec``; ``ru_maxrss`` survives it on Linux, so a subprocess forked from a large parent
    would report the parent's peak. Without ``/proc`` (macOS, BSD) ``ru_maxrss`` is all there is.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    unit = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit, 1)


def cpu_model() -> str:
    """The CPU's model name and widest vector extension (``/proc/cpuinfo``; ``platform`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return platform.processor() or platform.machine()
    name, flags = "", set()
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:  # x86 / ARM
            flags = set(value.split())
    name = name or platform.processor() or platform.machine()
    widest = next((isa for isa in ("avx512f", "avx2", "avx", "sve", "asimd", "neon") if isa in flags), "")
    return f"{name} ({widest})" if widest else name


def machine() -> dict[str, object]:
    """The run's machine and UTC date, for the header of a benchmark's JSON (results from different machines
    are not comparable: docs/performance.md)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
    }
