r"""Numbers quoted by the paper: collected from results, formatted once, emitted as LaTeX macros.

Every number the manuscript quotes comes from a results file, never from the text: the metrics of each evaluated
agent (``results/evaluate/{agent}/metrics.json``), the applications' summary
(``results/report_applications/summary.json``), a summary of the game report when there is one
(``results/report_games/summary.json``), the last row of each fine-tuning log
(``results/finetune/{agent}/metrics.parquet``, last non-null value of each column), the configuration, and the
published benchmarks the figures overlay. Timings (``*_per_s``, ``*_seconds``) are left out: they differ between runs.
Each number gets a path (``evaluate/moralis/agreement``) and a LaTeX macro named after it
(``\EAEvaluateMoralisAgreement``); ``numbers.tex`` defines one ``\newcommand`` per number.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from econalign.stats import coverage_label

__all__ = [
    "MACRO_PREFIX",
    "Number",
    "collect_numbers",
    "flatten",
    "format_value",
    "latex_escape",
    "macro_name",
    "numbers_tex",
]

MACRO_PREFIX = "EA"
_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}

Number = bool | int | float | str
# Wall-clock measurements differ between runs; the paper quotes only reproducible numbers.
_TIMING = re.compile(r"(per_s|_seconds|seconds_|elapsed|wall_time|duration)(/|$)")


def flatten(obj: Any, prefix: str = "") -> dict[str, Number]:
    """Flatten nested mappings into ``{"a/b/c": scalar}``.

    Lists of scalars become one comma-separated string; lists holding mappings are indexed (``a/0/b``);
    ``None`` values are dropped.

    Args:
        obj: A JSON-like value.
        prefix: Path of ``obj`` itself.

    Returns:
        Scalars by path, in sorted path order.

    Example:
        >>> flatten({"b": {"x": 1, "y": [0.5, 1]}, "a": None}, "m")
        {'m/b/x': 1, 'm/b/y': '0.5, 1'}
    """
    out: dict[str, Number] = {}
    if isinstance(obj, Mapping):
        for key in sorted(obj, key=str):
            out.update(flatten(obj[key], f"{prefix}/{key}" if prefix else str(key)))
    elif isinstance(obj, list | tuple):
        if all(_is_scalar(item) for item in obj):
            out[prefix] = ", ".join(str(item) for item in obj)
        else:
            for index, item in enumerate(obj):
                out.update(flatten(item, f"{prefix}/{index}"))
    elif _is_scalar(obj):
        out[prefix] = obj.item() if hasattr(obj, "item") else obj
    return dict(sorted(out.items()))


def _is_scalar(value: Any) -> bool:
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return True
    return isinstance(value, bool | int | float | str)


def macro_name(path: str) -> str:
    """The LaTeX macro name of a number's path: ``EA`` then CamelCase words, digits spelled out.

    LaTeX command names hold letters only, so ``moralis_k25`` becomes ``MoralisKTwoFive``.

    Args:
        path: A '/'-separated number path.

    Returns:
        The macro name without its backslash.

    Example:
        >>> macro_name("evaluate/moralis_k25/agreement")
        'EAEvaluateMoralisKTwoFiveAgreement'
    """
    words = re.split(r"[^A-Za-z0-9]+", path)
    parts = []
    for word in words:
        for chunk in re.findall(r"[A-Za-z]+|[0-9]", word):
            parts.append(_DIGITS[int(chunk)] if chunk.isdigit() else chunk[0].upper() + chunk[1:])
    return MACRO_PREFIX + "".join(parts)


def latex_escape(text: str) -> str:
    r"""Escape LaTeX's special characters in plain text.

    Example:
        >>> latex_escape("50% of a_b")
        '50\\% of a\\_b'
    """
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def format_value(value: Number, *, decimals: int = 2) -> str:
    """Format a number the way the paper and RESULTS.md quote it.

    Integers as they are, other floats with ``decimals`` places (``-0.00`` is written ``0.00``), booleans as
    yes/no, strings unchanged, non-finite floats as ``n/a``.

    Example:
        >>> format_value(2 / 3, decimals=3), format_value(4), format_value(True), format_value(-1e-9)
        ('0.667', '4', 'yes', '0.00')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        text = f"{value:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0.0 else text
    return str(value)


def collect_numbers(
    results: str | Path, *, config: Mapping[str, Any] | None = None, agents: Iterable[str] | None = None
) -> dict[str, Number]:
    """Collect every number the paper may quote from a results folder.

    Args:
        results: The workflow's ``results/`` folder.
        config: The resolved configuration; its scalars are added under ``config/``.
        agents: The evaluated agents (``base`` first); by default every folder under ``results/evaluate``.

    Returns:
        Numbers by path, sorted. Prefixes: ``evaluate/{agent}/``, ``finetune/{agent}/final/``, ``games/``,
        ``applications/``, ``config/``, ``agents/{agent}/``, ``benchmarks/{family}/{metric}/{population}``; and
        ``coverage``, the intervals' coverage as the captions print it (``95%``) when the config sets it.
    """
    results = Path(results)
    numbers: dict[str, Number] = {}
    evaluate = results / "evaluate"
    names = list(agents) if agents is not None else sorted(p.name for p in evaluate.glob("*") if p.is_dir())
    for agent in names:
        metrics = evaluate / agent / "metrics.json"
        if metrics.is_file():
            numbers.update(flatten(_read_json(metrics), f"evaluate/{agent}"))
        log = results / "finetune" / agent / "metrics.parquet"
        if log.is_file():
            numbers.update(flatten(_last_row(log), f"finetune/{agent}/final"))
    for prefix, path in (
        ("games", results / "report_games" / "summary.json"),
        ("applications", results / "report_applications" / "summary.json"),
    ):
        if path.is_file():
            numbers.update(flatten(_read_json(path), prefix))
    if config is not None:
        settings = flatten({key: value for key, value in config.items() if key != "agents"}, "config")
        agents_by_name = {agent["name"]: agent for agent in config.get("agents", [])}
        numbers.update(_as_given(settings | flatten(agents_by_name, "agents")))
        confidence = config.get("evaluate", {}).get("confidence")
        if confidence is not None:
            # The captions state the coverage as a percentage; the paper's text should read the same.
            numbers["coverage"] = coverage_label(float(confidence))
    numbers.update(_benchmark_numbers())
    return {path: value for path, value in sorted(numbers.items()) if not _TIMING.search(path)}


def _as_given(settings: Mapping[str, Number]) -> dict[str, Number]:
    """Settings are quoted as written, not rounded like results: a learning rate of 5e-4 must not print as 0.00."""
    return {path: f"{value:g}" if isinstance(value, float) else value for path, value in settings.items()}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _last_row(path: Path) -> dict[str, Any]:
    import polars as pl

    frame = pl.read_parquet(path)
    if frame.height == 0:
        return {}
    row = {}
    for name, dtype in frame.schema.items():
        values = frame[name].drop_nulls()
        if dtype.is_numeric() and len(values):
            row[name] = values[-1]
    return row


def _benchmark_numbers() -> dict[str, Number]:
    # Published rates live once, in the evaluation and applications stages; the paper quotes them through macros.
    numbers: dict[str, Number] = {}
    try:
        from econalign.evaluate.benchmarks import BENCHMARKS
    except ImportError:
        BENCHMARKS = ()
    for b in BENCHMARKS:
        numbers[f"benchmarks/{b.family}/{b.metric}/{b.population}"] = float(b.value)
    try:
        from econalign.applications.av import HUMAN_BENCHMARK
    except ImportError:
        return numbers
    for field in ("share", "n_pedestrians", "n_passengers"):
        numbers[f"benchmarks/av_dilemma/swerve/humans/{field}"] = getattr(HUMAN_BENCHMARK, field)
    return numbers


def numbers_tex(numbers: Mapping[str, Number], *, decimals: int = 2, required: Iterable[str] = ()) -> str:
    r"""Render ``numbers.tex``: one ``\newcommand`` per number, and a visible marker for each missing macro.

    Args:
        numbers: Numbers by path (from :func:`collect_numbers`).
        decimals: Decimal places of non-integer floats.
        required: Macro names the manuscript uses; those no number defines are set to a bold ``[missing]`` so
            the PDF still builds and shows the gap (RESULTS.md names them).

    Returns:
        The file's text. Where two paths map to one macro name, the first in path order keeps it and the clash is
        noted in a comment.
    """
    lines = [
        "% Generated by `econalign paper` from the results; do not edit. One macro per quoted number.",
    ]
    seen: dict[str, str] = {}
    for path, value in numbers.items():
        name = macro_name(path)
        if name in seen:
            lines.append(f"% {path}: not defined, its macro \\{name} already holds {seen[name]}")
            continue
        seen[name] = path
        lines.append(f"\\newcommand{{\\{name}}}{{{latex_escape(format_value(value, decimals=decimals))}}}  % {path}")
    missing = sorted(set(required) - set(seen))
    if missing:
        lines.append("% Macros the manuscript uses that no result defines:")
        lines.extend(f"\\newcommand{{\\{name}}}{{\\textbf{{[missing]}}}}  % no result defines it" for name in missing)
    return "\n".join(lines) + "\n"
