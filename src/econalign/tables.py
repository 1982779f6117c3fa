"""Markdown and booktabs LaTeX tables from plain text cells, shared by the battery's and the applications' reports."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["latex_table", "markdown_table", "table_escape"]

_ESCAPES = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "κ": r"$\kappa$",
    "α": r"$\alpha$",
    "Δ": r"$\Delta$",
    "–": "--",
    "†": r"$^\dagger$",
    "±": r"$\pm$",
}


def table_escape(text: str) -> str:
    r"""Escape a table cell for LaTeX: special characters, and the Greek letters and signs the tables print as math.

    Example:
        >>> table_escape("κ_50 & 5%")
        '$\\kappa$\\_50 \\& 5\\%'
    """
    return "".join(_ESCAPES.get(char, char) for char in text)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, align: bool = True) -> str:
    """A GitHub-flavoured markdown table.

    Args:
        header: Column names.
        rows: Cells.
        align: Left-align the first column and right-align the rest; False leaves the alignment to the renderer.

    Returns:
        The table, one line per row, ending with a newline.

    Example:
        >>> print(markdown_table(["agent", "rate"], [["base", "0.5"]]), end="")
        | agent | rate |
        | :--- | ---: |
        | base | 0.5 |
        >>> print(markdown_table(["a", "b"], [["1", "2"]], align=False), end="")
        | a | b |
        | --- | --- |
        | 1 | 2 |
    """
    rule = [":---"] + ["---:"] * (len(header) - 1) if align else ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str, label: str, small: bool = False
) -> str:
    r"""A booktabs table environment (the document needs the booktabs package); text is escaped here.

    Args:
        header: Column names.
        rows: Cells (plain text).
        caption: Table caption.
        label: LaTeX label, e.g. ``tab:agreement``.
        small: Set the table in ``\small``.

    Returns:
        The LaTeX source.

    Example:
        >>> r"\toprule" in latex_table(["a"], [["1"]], caption="c", label="tab:x")
        True
    """
    spec = "l" + "r" * (len(header) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        *([r"\small"] if small else []),
        rf"\caption{{{table_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(table_escape(h) for h in header) + r" \\",
        r"\midrule",
        *(" & ".join(table_escape(cell) for cell in row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
