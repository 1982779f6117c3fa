"""Collect the tables and figures other stages made into ``results/paper``, stamped with provenance.

Sources, by stage (the name prefix keeps stages apart):

* ``results/report_games/*.{tex,md,png,pdf}`` -> ``games_<stem>`` (except the ``index.md`` reading page)
* ``results/report_applications/*.{tex,md,png,pdf}`` -> ``applications_<stem>``
* ``results/finetune/{agent}/loss.{png,pdf}`` -> ``finetune_loss_<agent>``

Tables land in ``tables/<name>.tex`` and ``tables/<name>.md``; figures in ``figures/<name>.png`` / ``.pdf`` with a
``figures/<name>.provenance.json`` beside them. A ``.tex`` table that brings its own float (``table`` environment,
caption, label) is reduced to its body, because the manuscript places and captions every table itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from econalign.io import sha256_file, write_atomic, write_json, write_text
from econalign.report.provenance import stamp_markdown, stamp_tex

__all__ = ["FIGURE_SUFFIXES", "STAGES", "TABLE_SUFFIXES", "Asset", "bare_table", "find_assets", "write_assets"]

STAGES: tuple[tuple[str, str], ...] = (("games", "report_games"), ("applications", "report_applications"))
TABLE_SUFFIXES = (".tex", ".md")
FIGURE_SUFFIXES = (".pdf", ".png")
# A stage's index page inlines its other tables; it is a reading aid, not an asset, and the rule that writes it is
# no input of the paper, so collecting it would make the paper depend on job order.
_INDEX_PAGE = "index"
_FLOAT_LINE = re.compile(r"^\s*(\\begin\{table\*?\}.*|\\end\{table\*?\}|\\centering|\\caption\{.*\}|\\label\{.*\})\s*$")

_TABULAR = re.compile(r"\\begin\{tabular\}.*?\\end\{tabular\}", re.DOTALL)
_SIZE = re.compile(r"\\(tiny|scriptsize|footnotesize|small|normalsize)\b")


@dataclasses.dataclass(frozen=True)
class Asset:
    """A table or figure the paper can place.

    Attributes:
        name: Name in ``results/paper`` (``games_agreement``), letters, digits and underscores.
        kind: ``"table"`` or ``"figure"``.
        stage: ``games``, ``applications`` or ``finetune``.
        sources: Source file by suffix (``{".tex": Path, ".md": Path}``).
    """

    name: str
    kind: str
    stage: str
    sources: Mapping[str, Path]

    @property
    def key(self) -> str:
        """``tables/NAME`` or ``figures/NAME``: a table and a figure may share a name (a stage writes both)."""
        return f"{self.kind}s/{self.name}"

    @property
    def png(self) -> Path | None:
        """The PNG source of a figure, if any."""
        return self.sources.get(".png")


def find_assets(results: str | Path, *, agents: Iterable[str] = ()) -> list[Asset]:
    """List the tables and figures present under ``results``.

    Args:
        results: The workflow's ``results/`` folder.
        agents: Fine-tuned agents whose loss curves to include.

    Returns:
        Assets sorted by stage order (games, applications, finetune), then name.
    """
    results = Path(results)
    assets: list[Asset] = []
    for stage, folder in STAGES:
        by_stem: dict[str, dict[str, Path]] = {}
        for path in sorted((results / folder).glob("*")):
            if path.is_file() and path.suffix in TABLE_SUFFIXES + FIGURE_SUFFIXES and path.stem != _INDEX_PAGE:
                by_stem.setdefault(path.stem, {})[path.suffix] = path
        for stem, sources in sorted(by_stem.items()):
            for kind, suffixes in (("table", TABLE_SUFFIXES), ("figure", FIGURE_SUFFIXES)):
                chosen = {suffix: sources[suffix] for suffix in suffixes if suffix in sources}
                if chosen:
                    assets.append(Asset(_name(stage, stem), kind, stage, chosen))
    for agent in agents:
        sources = {s: results / "finetune" / agent / f"loss{s}" for s in FIGURE_SUFFIXES}
        chosen = {suffix: path for suffix, path in sources.items() if path.is_file()}
        if chosen:
            assets.append(Asset(_name("finetune", f"loss_{agent}"), "figure", "finetune", chosen))
    return assets


def _name(stage: str, stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{stage}_{stem}")


def bare_table(text: str) -> str:
    r"""Strip a LaTeX table's own float wrapper (``table`` environment, ``\centering``, caption, label lines).

    A file holding several tables (a result and its benchmark rows) becomes one column of tabulars, stacked in their
    order: the paper places it in one float whose caption describes every part, where side by side they would be
    shrunk to fit the line.

    Example:
        >>> bare_table("\\begin{table}[h]\n\\centering\n\\begin{tabular}{l}x\\end{tabular}\n\\end{table}\n")
        '\\begin{tabular}{l}x\\end{tabular}\n'
    """
    if "\\begin{table" not in text:
        return text
    kept = "".join(line for line in text.splitlines(keepends=True) if not _FLOAT_LINE.match(line))
    tabulars = _TABULAR.findall(kept)
    if len(tabulars) < 2:
        return kept
    # Settings before the first table (\small) apply to the stack, and a later table's own size command gives way to
    # them; other text between or after the tables has no place in one column, and dropping it could lose a note.
    head, *gaps = _TABULAR.split(kept)
    stray = [rest for gap in gaps if (rest := _SIZE.sub("", gap).strip())]
    if stray:
        raise ValueError(f"text between or after the tables of a multi-table file would be lost: {stray[0][:60]!r}")
    return head + "\\begin{tabular}{@{}c@{}}\n" + "\\\\[2ex]\n".join(tabulars) + "\n\\end{tabular}\n"


def write_assets(
    assets: Iterable[Asset], out: str | Path, *, results: str | Path, record: Mapping[str, Any]
) -> dict[str, dict[str, str]]:
    """Copy assets into ``out/tables`` and ``out/figures``, stamped with ``record``.

    Args:
        assets: From :func:`find_assets`.
        out: The paper folder (``results/paper``).
        results: The workflow's ``results/`` folder (sources are named relative to it).
        record: The paper's provenance record.

    Returns:
        For each asset's :attr:`Asset.key`, its written files by suffix, relative to ``out``.
    """
    out, results = Path(out), Path(results)
    written: dict[str, dict[str, str]] = {}
    stamp = {key: record[key] for key in ("config_hash", "seed", "model_sha256", "packages") if key in record}
    for asset in assets:
        files: dict[str, str] = {}
        for suffix, source in sorted(asset.sources.items()):
            relative_source = source.relative_to(results).as_posix()
            folder = "tables" if asset.kind == "table" else "figures"
            target = out / folder / f"{asset.name}{suffix}"
            if suffix == ".tex":
                write_text(
                    target, stamp_tex(bare_table(source.read_text(encoding="utf-8")), stamp, source=relative_source)
                )
            elif suffix == ".md":
                write_text(target, stamp_markdown(source.read_text(encoding="utf-8"), stamp, source=relative_source))
            else:
                _copy(source, target)
            files[suffix] = target.relative_to(out).as_posix()
        if asset.kind == "figure":
            sources = {suffix: path.relative_to(results).as_posix() for suffix, path in sorted(asset.sources.items())}
            sha = {sources[suffix]: sha256_file(path) for suffix, path in sorted(asset.sources.items())}
            side = out / "figures" / f"{asset.name}.provenance.json"
            write_json(side, {**stamp, "figure": asset.name, "sources": sha})
            files[".provenance.json"] = side.relative_to(out).as_posix()
        written[asset.key] = files
    return written


def _copy(source: Path, target: Path) -> None:
    if (
        target.is_file()
        and target.stat().st_size == source.stat().st_size
        and sha256_file(target) == sha256_file(source)
    ):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, source.read_bytes())
