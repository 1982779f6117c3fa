"""Provenance stamps for the paper's tables and figures.

Each table copied into ``results/paper`` carries its origin: the resolved config's hash, the seed, the model
weights' sha256 and the package versions, as comment lines in ``.tex`` and a footer line in ``.md``; each figure
gets a ``<name>.provenance.json`` beside it. Stamps hold nothing time- or machine-dependent (no dates, no absolute
paths), so rebuilding from a clean clone gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from econalign.io import provenance, sha256_file
from econalign.model.identity import weights_sha256

__all__ = [
    "MODEL_PROVENANCE",
    "model_sha256",
    "paper_provenance",
    "stage_seeds",
    "stamp_markdown",
    "stamp_tex",
    "summary_line",
]

BASE_MODEL = Path("prepare_model") / "base"
MODEL_PROVENANCE = BASE_MODEL / "provenance.json"


def model_sha256(results: str | Path) -> str | None:
    """The base model weights' sha256 (:func:`econalign.model.identity.weights_sha256` of the prepared model).

    The hash ``prepare_model`` recorded; ``None`` when the model has not been prepared under ``results``.
    """
    return weights_sha256(Path(results) / BASE_MODEL)


def stage_seeds(results: str | Path, *, agents: Iterable[str] | None = None) -> dict[str, int]:
    """Seeds recorded by the stages' ``provenance.json`` files, by path relative to ``results``.

    Args:
        results: The workflow's ``results/`` folder; ``results/paper`` itself is skipped.
        agents: The study's agents: records under another agent's folder (left over from an agent since removed
            from the config, and no input of the paper) are skipped; None keeps every record.

    Returns:
        ``{"synthesize/moralis/provenance.json": 1234, ...}`` for every record that holds an integer ``seed``.
    """
    results = Path(results)
    keep = None if agents is None else set(agents)
    seeds: dict[str, int] = {}
    for path in sorted(results.rglob("provenance.json")):
        relative = path.relative_to(results).as_posix()
        if relative.startswith("paper/"):
            continue
        stage, _, rest = relative.partition("/")
        if keep is not None and stage in ("synthesize", "finetune") and rest.split("/")[0] not in keep:
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        seed = record.get("seed") if isinstance(record, dict) else None
        if isinstance(seed, int) and not isinstance(seed, bool):
            seeds[relative] = seed
    return seeds


def paper_provenance(config: Mapping[str, Any], results: str | Path, *, inputs: Iterable[str | Path]) -> dict[str, Any]:
    """The provenance record of the assembled paper.

    Args:
        config: The resolved configuration.
        results: The workflow's ``results/`` folder.
        inputs: Files the paper was assembled from; recorded with their sha256, by path relative to ``results``.

    Returns:
        :func:`econalign.io.provenance` plus ``inputs`` (path -> sha256) and ``stage_seeds``.
    """
    results = Path(results)
    hashes = {}
    for path in inputs:
        path = Path(path)
        hashes[_relative(path, results)] = sha256_file(path)
    return provenance(
        config,
        model_sha256=model_sha256(results),
        inputs=dict(sorted(hashes.items())),
        stage_seeds=stage_seeds(results, agents=[agent["name"] for agent in config.get("agents", [])]),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def summary_line(record: Mapping[str, Any], *, source: str | None = None) -> str:
    """One line naming a record's config hash, seed, model sha256 and package versions.

    Example:
        >>> summary_line({"config_hash": "ab12", "seed": 0, "packages": {"jax": "0.10.2"}}, source="t.md")
        'source t.md; config ab12; seed 0; model sha256 none; packages jax 0.10.2'
    """
    packages = ", ".join(f"{name} {version}" for name, version in sorted(record.get("packages", {}).items()))
    parts = [f"source {source}"] if source else []
    parts += [
        f"config {record.get('config_hash', 'none')}",
        f"seed {record.get('seed')}",
        f"model sha256 {record.get('model_sha256') or 'none'}",
        f"packages {packages}",
    ]
    return "; ".join(parts)


def stamp_tex(text: str, record: Mapping[str, Any], *, source: str) -> str:
    """Append a provenance comment to a LaTeX table.

    Args:
        text: The table's LaTeX source.
        record: A provenance record (:func:`paper_provenance`).
        source: Where the table came from, relative to ``results/``.

    Returns:
        The text with a trailing ``% provenance: ...`` comment line.
    """
    return text.rstrip("\n") + "\n% provenance: " + summary_line(record, source=source) + "\n"


def stamp_markdown(text: str, record: Mapping[str, Any], *, source: str) -> str:
    """Append a visible provenance footer to a markdown table.

    Args:
        text: The table's markdown.
        record: A provenance record (:func:`paper_provenance`).
        source: Where the table came from, relative to ``results/``.

    Returns:
        The text followed by an empty line and an italic ``Provenance: ...`` line.
    """
    return text.rstrip("\n") + "\n\n*Provenance: " + summary_line(record, source=source) + ".*\n"
