"""Build the manuscript's PDF with whichever LaTeX engine is on PATH (latexmk, pdflatex or tectonic).

The build runs in the assembled paper folder (``results/paper``), writes its auxiliary files to ``build/`` and
copies ``build/main.pdf`` to ``main.pdf``. ``SOURCE_DATE_EPOCH`` is fixed so that pdfTeX stamps no build date.
Without an engine nothing fails: :func:`build_pdf` says how to install one (see ``paper/README.md``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

from econalign.io import write_atomic

__all__ = ["ENGINES", "INSTALL_HINT", "BuildResult", "build_pdf", "find_engine"]

ENGINES = ("latexmk", "pdflatex", "tectonic")
INSTALL_HINT = (
    "no LaTeX engine (latexmk, pdflatex or tectonic) on PATH, so the PDF was not built; install one with "
    "`apt-get install texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended latexmk` "
    "(see paper/README.md) and rerun `uv run snakemake --cores all --forcerun paper`"
)


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """What happened to the PDF.

    Attributes:
        built: Whether ``main.pdf`` was written.
        engine: The engine used, or ``None``.
        message: One human-readable line (the install hint, or the log to read on failure).
    """

    built: bool
    engine: str | None
    message: str


def find_engine(engines: tuple[str, ...] = ENGINES) -> str | None:
    """The first of ``engines`` found on PATH, or ``None``."""
    return next((engine for engine in engines if shutil.which(engine)), None)


def _commands(engine: str, main: str) -> list[list[str]]:
    stem = Path(main).stem
    if engine == "latexmk":
        return [["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-outdir=build", main]]
    if engine == "pdflatex":
        run = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-output-directory=build", main]
        return [run, ["bibtex", f"build/{stem}"], run, run]
    if engine == "tectonic":
        return [["tectonic", "--outdir", "build", main]]
    raise ValueError(f"unknown LaTeX engine {engine!r}; known: {', '.join(ENGINES)}")


def build_pdf(
    folder: str | Path, *, main: str = "main.tex", engine: str | None = None, timeout: float = 600
) -> BuildResult:
    """Compile ``folder/main`` to ``folder/<stem>.pdf``.

    Args:
        folder: The assembled paper folder (sources, ``numbers.tex``, ``tables/``, ``figures/``).
        main: The manuscript file in ``folder``.
        engine: Force an engine; by default the first of :data:`ENGINES` on PATH.
        timeout: Seconds allowed per command.

    Returns:
        A :class:`BuildResult`; a failed compilation is reported, not raised, so the markdown summary still lands.
    """
    folder = Path(folder)
    engine = engine or find_engine()
    if engine is None:
        return BuildResult(False, None, INSTALL_HINT)
    (folder / "build").mkdir(exist_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "BIBINPUTS": f"{folder.resolve()}:"}
    stem = Path(main).stem
    for command in _commands(engine, main):
        try:
            result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            return BuildResult(False, engine, f"{engine} failed to run: {error}")
        # bibtex exits 2 on warnings-as-errors such as an empty citation list; the next pdflatex pass decides.
        if result.returncode != 0 and command[0] != "bibtex":
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            return BuildResult(False, engine, f"{engine} failed (see build/{stem}.log in the paper folder):\n{tail}")
    pdf = folder / "build" / f"{stem}.pdf"
    if not pdf.is_file():
        return BuildResult(False, engine, f"{engine} ran but wrote no build/{stem}.pdf")
    write_atomic(folder / f"{stem}.pdf", pdf.read_bytes())
    return BuildResult(True, engine, f"built {stem}.pdf with {engine}")
