"""The paper, its markdown summary and the provenance stamps of its tables and figures (rule ``paper``)."""

from econalign.report.assets import Asset, find_assets, write_assets
from econalign.report.latex import BuildResult, build_pdf, find_engine
from econalign.report.numbers import collect_numbers, format_value, macro_name, numbers_tex
from econalign.report.paper import PaperResult, assemble_paper
from econalign.report.provenance import paper_provenance, stamp_markdown, stamp_tex
from econalign.report.summary import check_targets, manuscript_usage, results_markdown

__all__ = [
    "Asset",
    "BuildResult",
    "PaperResult",
    "assemble_paper",
    "build_pdf",
    "check_targets",
    "collect_numbers",
    "find_assets",
    "find_engine",
    "format_value",
    "macro_name",
    "manuscript_usage",
    "numbers_tex",
    "paper_provenance",
    "results_markdown",
    "stamp_markdown",
    "stamp_tex",
    "write_assets",
]
