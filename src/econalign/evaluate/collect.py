"""Read the battery's results back for tables and figures: every agent's and reference rule's metrics and items."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from econalign.io import MissingInputError

__all__ = ["PROBE_PREFIX", "Results", "display_theory", "grid_kappa", "load_results"]

PROBE_PREFIX = "probe_"
"""Splits whose names start with this are consistency probes (not pooled, not shown as test splits)."""

_GRID_AGENT = re.compile(r"^moralis_k(\d+)$")


@dataclasses.dataclass(frozen=True)
class Results:
    """The battery's outputs.

    Attributes:
        agents: LLM agents in display order (``base`` first, then the configured agents).
        references: Reference rules in display order.
        metrics: Name (agent or rule) -> its metrics.json content.
        items: Every agent's and rule's per-item rows (column ``agent``).
    """

    agents: tuple[str, ...]
    references: tuple[str, ...]
    metrics: Mapping[str, Mapping[str, Any]]
    items: pl.DataFrame

    @property
    def confidence(self) -> float:
        """Coverage of the metrics' intervals (``evaluate.confidence`` of the run that scored them)."""
        return float(self.metrics[(self.agents or self.references)[0]]["confidence"])

    @property
    def theories(self) -> list[str]:
        """Theory names, as in the metrics (economicus first, then moralis by increasing κ)."""
        first = self.metrics[(self.agents or self.references)[0]]
        return list(first["theories"])

    @property
    def splits(self) -> set[str]:
        """Splits that any agent or rule was scored on: from the metrics, so tables read without items see them."""
        scored = {s for m in self.metrics.values() for s in m.get("agreement", {}) if s != "all"}
        return scored | set(self.items["split"].unique().to_list())

    @property
    def test_splits(self) -> list[str]:
        """Test splits present in the results (probes excluded), in the dataset's order."""
        order = ["test_payoffs", "test_paraphrases", "test_labels", "test_families"]
        present = self.splits
        return [s for s in order if s in present] + sorted(
            s for s in present if s not in order and not s.startswith(PROBE_PREFIX)
        )

    @property
    def probe_splits(self) -> list[str]:
        """Consistency-probe splits present in the results, sorted."""
        return sorted(s for s in self.splits if s.startswith(PROBE_PREFIX))


def load_results(
    evaluations: str | Path, references: str | Path | None, agents: Sequence[str], *, with_items: bool = True
) -> Results:
    """Read ``{evaluations}/{agent}/{items.parquet,metrics.json}`` and the reference rules' outputs.

    Args:
        evaluations: ``results/evaluate``.
        references: ``results/evaluate_reference`` (None: no reference rules).
        agents: LLM agents to read, in display order; missing ones are skipped.
        with_items: Also read the per-item tables (figures need them, tables do not).

    Returns:
        The collected results.

    Raises:
        MissingInputError: If ``evaluations`` does not exist or holds none of ``agents``' results and no reference
            rules were read, if ``references`` is given without its ``metrics.json``, or if ``with_items`` and a
            ``metrics.json`` read has no ``items.parquet`` beside it (a FileNotFoundError).
    """
    evaluations = Path(evaluations)
    if not evaluations.is_dir():
        raise MissingInputError(f"{evaluations} does not exist: run the evaluate rule first (econalign evaluate)")
    if references is not None and not (Path(references) / "metrics.json").is_file():
        raise MissingInputError(
            f"{Path(references) / 'metrics.json'} does not exist: run the evaluate_reference rule first "
            "(econalign evaluate --references)"
        )
    metrics: dict[str, Any] = {}
    frames = []
    present = []
    for agent in agents:
        folder = evaluations / agent
        if not (folder / "metrics.json").exists():
            continue
        present.append(agent)
        metrics[agent] = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        if with_items:
            frames.append(pl.read_parquet(_items(folder, "run the evaluate rule again (econalign evaluate)")))
    rules: list[str] = []
    if references is not None:
        stored = json.loads((Path(references) / "metrics.json").read_text(encoding="utf-8"))
        reference_metrics = stored["references"]
        rules = list(stored.get("rules", reference_metrics))
        metrics.update(reference_metrics)
        if with_items:
            again = "run the evaluate_reference rule again (econalign evaluate --references)"
            frames.append(pl.read_parquet(_items(Path(references), again)))
    if not present and not rules:
        raise MissingInputError(
            f"{evaluations} holds the results of none of {', '.join(agents)} (AGENT/metrics.json): run the evaluate "
            "rule first (econalign evaluate)"
        )
    items = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame({"agent": [], "split": []})
    return Results(agents=tuple(present), references=tuple(rules), metrics=metrics, items=items)


def _items(folder: Path, remedy: str) -> Path:
    path = folder / "items.parquet"
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist beside its metrics.json: {remedy}")
    return path


def display_theory(name: str) -> str:
    """Readable name of a theory: ``moralis_k50`` -> ``moralis κ=0.5``.

    Example:
        >>> display_theory("moralis_k25"), display_theory("economicus")
        ('moralis κ=0.25', 'economicus')
    """
    match = _GRID_AGENT.match(name)
    return f"moralis κ={int(match.group(1)) / 100:g}" if match else name


def grid_kappa(agent: str) -> float | None:
    """κ of a κ-grid agent named ``moralis_k<100κ>``, else None.

    Example:
        >>> grid_kappa("moralis_k75"), grid_kappa("moralis")
        (0.75, None)
    """
    match = _GRID_AGENT.match(agent)
    return int(match.group(1)) / 100 if match else None
