"""`snakemake --report` builds one self-contained HTML report with every stage's category and the workflow text.

The DAG's outputs are stand-ins (touched, not computed): this checks the report wiring (report() wrappers, captions,
categories, workflow.rst), not the results.
"""

import subprocess
import sys

import pytest

from .fixtures import tiny_png

CATEGORIES = ("1. Data", "2. Fine-tuning", "3. Games", "4. Applications", "5. Paper")


def snakemake(repo_root, workdir, *args):
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(repo_root / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(repo_root / ".test/config.yaml"),
        "--cores", "1",
        *args,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_report_html_has_every_stage(repo_root, tmp_path):
    summary = snakemake(repo_root, tmp_path, "--summary")
    outputs = [line.split("\t")[0] for line in summary.splitlines()[1:] if line.startswith("results/")]
    assert "results/paper/RESULTS.md" in outputs
    for output in outputs:
        path = tmp_path / output
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tiny_png(7) if path.suffix == ".png" else b"stand-in\n")
        else:  # directory outputs: the base model, adapters
            path.mkdir(parents=True, exist_ok=True)
            (path / "stand-in").write_text("stand-in\n")
    snakemake(repo_root, tmp_path, "--touch")
    snakemake(repo_root, tmp_path, "--report", "report.html")
    html = (tmp_path / "report.html").read_text()
    for category in CATEGORIES:
        assert f'"{category}' in html, category
    assert "aligning language-model agents with economic preferences" in html  # workflow.rst
    assert "The study's summary" in html  # paper.rst, the caption of RESULTS.md
