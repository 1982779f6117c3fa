"""Optional experiment tracking (Weights & Biases); the local files stay the source of truth.

Off by default (``tracking.wandb: false``). When on, :func:`open_tracker` starts one run per job and logs each
step's metrics row. Mode, directory, entity and API key come from the environment (``WANDB_MODE=offline``
works without a network; ``WANDB_DIR``, ``WANDB_API_KEY``): this module passes none of them, because
arguments given to ``wandb.init`` would override the environment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol


class Tracker(Protocol):
    """Receives metrics rows during training."""

    def log(self, row: Mapping[str, Any]) -> None:
        """Record one step's metrics."""

    def close(self) -> None:
        """Finish the run."""


class NullTracker:
    """Tracks nothing (tracking off)."""

    def log(self, row: Mapping[str, Any]) -> None:
        """Ignore ``row``."""

    def close(self) -> None:
        """Nothing to finish."""


class WandbTracker:
    """Logs rows to a ``wandb`` run.

    Args:
        run: The object returned by ``wandb.init``.
    """

    def __init__(self, run: Any):
        self.run = run

    def log(self, row: Mapping[str, Any]) -> None:
        """Log the finite numeric fields of ``row`` at its ``step``."""
        values = {
            key: value
            for key, value in row.items()
            if key != "step" and isinstance(value, int | float) and math.isfinite(value)
        }
        self.run.log(values, step=int(row["step"]))

    def close(self) -> None:
        """Finish the run (flushes offline files)."""
        self.run.finish()


def open_tracker(tracking: Mapping[str, Any], *, name: str, config: Mapping[str, Any]) -> Tracker:
    """Start tracking as the ``tracking`` config section says.

    Args:
        tracking: The resolved ``tracking`` section (``wandb``, ``project``): validated, its defaults filled
            (``econalign.config``); ``finetune`` passes ``config["tracking"]``, or ``{"wandb": False}`` on the
            hosts of a multi-host run that do not log.
        name: The run's name (the agent).
        config: The configuration recorded with the run.

    Returns:
        A :class:`WandbTracker` when ``tracking.wandb`` is true, else a :class:`NullTracker`.
    """
    if not tracking["wandb"]:
        return NullTracker()
    import wandb

    return WandbTracker(
        wandb.init(project=tracking["project"], name=name, config=dict(config), reinit="finish_previous")
    )
