"""The PDF build, with stand-in engines on PATH: runs everywhere, including CI machines without LaTeX."""

import os
import stat

import pytest

from econalign.report import latex

RECORDING_ENGINE = """#!/bin/sh
echo "$(basename "$0") $* SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" >> calls.log
{body}
"""


def install(folder, name, body):
    path = folder / name
    path.write_text(RECORDING_ENGINE.format(body=body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def paper_dir(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    return bin_dir, paper


def test_pdflatex_runs_three_passes_around_bibtex_and_the_pdf_lands_beside_the_sources(paper_dir):
    bin_dir, paper = paper_dir
    install(bin_dir, "pdflatex", 'printf "%%PDF-1.5 stand-in" > build/main.pdf')
    install(bin_dir, "bibtex", "exit 2")  # a bibtex warning does not stop the build; the next pass decides
    result = latex.build_pdf(paper, engine="pdflatex")
    assert result == latex.BuildResult(True, "pdflatex", "built main.pdf with pdflatex")
    assert (paper / "main.pdf").read_bytes() == b"%PDF-1.5 stand-in"
    run = "pdflatex -interaction=nonstopmode -halt-on-error -output-directory=build main.tex SOURCE_DATE_EPOCH=0"
    bib = "bibtex build/main SOURCE_DATE_EPOCH=0"
    assert (paper / "calls.log").read_text().splitlines() == [run, bib, run, run]


def test_the_first_engine_on_path_is_used():
    assert latex.find_engine(("no-such-engine-here", "sh")) == "sh"
    assert latex.find_engine(("no-such-engine-here",)) is None


def test_a_failing_engine_is_reported_with_the_end_of_its_log(paper_dir):
    bin_dir, paper = paper_dir
    install(bin_dir, "latexmk", 'echo "! Undefined control sequence \\\\foo."; exit 12')
    result = latex.build_pdf(paper, engine="latexmk")
    assert not result.built and result.engine == "latexmk"
    assert "latexmk failed (see build/main.log" in result.message and "Undefined control sequence" in result.message
    assert not (paper / "main.pdf").exists()


def test_an_engine_that_writes_no_pdf_is_a_failure(paper_dir):
    bin_dir, paper = paper_dir
    install(bin_dir, "tectonic", "exit 0")
    result = latex.build_pdf(paper, engine="tectonic")
    assert result == latex.BuildResult(False, "tectonic", "tectonic ran but wrote no build/main.pdf")
    assert (paper / "calls.log").read_text().splitlines() == ["tectonic --outdir build main.tex SOURCE_DATE_EPOCH=0"]
