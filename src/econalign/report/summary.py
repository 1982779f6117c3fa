"""The markdown summary ``results/paper/RESULTS.md``: targets, key numbers, tables, figures, provenance.

It is written on every run, with or without LaTeX, and states plainly which targets were missed and which results
the manuscript asks for but the run did not produce.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from econalign.report.assets import Asset
from econalign.report.latex import BuildResult
from econalign.report.numbers import Number, format_value, macro_name

__all__ = [
    "STAGE_TITLES",
    "TargetCheck",
    "Usage",
    "check_targets",
    "expand_targets",
    "manuscript_usage",
    "results_markdown",
]

STAGE_TITLES = {"games": "Games", "applications": "Applications", "finetune": "Fine-tuning"}
_MACRO = re.compile(r"\\(EA[A-Za-z]+)")
_TABLE = re.compile(r"\\resulttable\{([^}]*)\}")
_FIGURE = re.compile(r"\\resultfigure(?:\[[^\]]*\])?\{([^}]*)\}")


@dataclasses.dataclass(frozen=True)
class Usage:
    r"""What a manuscript asks of the results.

    Attributes:
        macros: Number macros used (``EA...``), sorted, without backslash.
        tables: Table names placed with ``\resulttable``, in order of appearance.
        figures: Figure names placed with ``\resultfigure``, in order of appearance.
    """

    macros: tuple[str, ...]
    tables: tuple[str, ...]
    figures: tuple[str, ...]

    @property
    def placed(self) -> set[str]:
        """The :attr:`econalign.report.assets.Asset.key` of every table and figure the manuscript places."""
        return {f"tables/{name}" for name in self.tables} | {f"figures/{name}" for name in self.figures}

    def missing(self, assets: Iterable[Asset]) -> list[str]:
        """Names the manuscript places that none of ``assets`` provides, sorted."""
        found = {asset.key for asset in assets}
        return sorted({key.split("/", 1)[1] for key in self.placed - found})


def manuscript_usage(tex: str) -> Usage:
    r"""Scan LaTeX source for number macros, ``\resulttable{name}`` and ``\resultfigure{name}``.

    Comment text (after an unescaped ``%``) is ignored.

    Example:
        >>> manuscript_usage("\\EAOne and \\resulttable{games_t}{c} % \\EATwo").macros
        ('EAOne',)
    """
    text = "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in tex.splitlines())
    return Usage(
        macros=tuple(sorted(set(_MACRO.findall(text)))),
        tables=tuple(dict.fromkeys(_TABLE.findall(text))),
        figures=tuple(dict.fromkeys(_FIGURE.findall(text))),
    )


@dataclasses.dataclass(frozen=True)
class TargetCheck:
    """A configured target and how the run fared.

    Attributes:
        metric: The number's path.
        description: What the target means.
        requirement: The condition in words (``>= 0.8``, ``> evaluate/base/x``).
        value: The measured value, or ``None``.
        status: ``met``, ``missed`` or ``not measured``.
    """

    metric: str
    description: str
    requirement: str
    value: Number | None
    status: str


def expand_targets(targets: Iterable[Mapping[str, Any]], agents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Expand targets written for every aligned agent.

    A target whose strings contain ``{agent}`` is repeated for each agent of the config, with ``{agent}`` the
    agent's name, ``{theory}`` the name of its theory in ``metrics.json`` (``economicus``, ``moralis_k50``) and
    ``{preference}`` its preference; other targets pass through unchanged.

    Example:
        >>> agents = [{"name": "economicus", "preference": "economicus"}, {"name": "m", "preference": "moralis",
        ...           "kappa": 0.25}]
        >>> [t["above"] for t in expand_targets([{"metric": "x/{agent}", "above": "base/{theory}"}], agents)]
        ['base/economicus', 'base/moralis_k25']
    """
    from econalign.config import kappa_agent_name

    expanded: list[dict[str, Any]] = []
    for target in targets:
        if not any(isinstance(value, str) and "{agent}" in value for value in target.values()):
            expanded.append(dict(target))
            continue
        for agent in agents:
            moralis = agent["preference"] == "moralis"
            fields = {
                "agent": agent["name"],
                "theory": kappa_agent_name(float(agent.get("kappa", 0.0))) if moralis else "economicus",
                "preference": agent["preference"],
            }
            expanded.append(
                {key: value.format(**fields) if isinstance(value, str) else value for key, value in target.items()}
            )
    return expanded


def check_targets(targets: Iterable[Mapping[str, Any]], numbers: Mapping[str, Number]) -> list[TargetCheck]:
    """Check each target (``metric`` with ``min``/``max``/``above``/``below``/``equals``) against the numbers.

    Args:
        targets: The config's ``report.targets``.
        numbers: Numbers by path.

    Returns:
        One check per target, in order. A target whose number (or reference number) is absent, or not numeric
        where a bound needs a number, is ``not measured``. ``above``/``below`` between two estimates that carry
        confidence intervals (``.../estimate`` with ``.../low`` and ``.../high``) hold only when the intervals lie
        apart; otherwise the numbers themselves are compared.

    Example:
        >>> targets = [{"metric": "a", "min": 0.5}, {"metric": "b"}, {"metric": "c", "equals": True}]
        >>> [c.status for c in check_targets(targets, {"a": 0.4, "c": True})]
        ['missed', 'not measured', 'met']
        >>> ci = {"x/estimate": 0.57, "x/low": 0.51, "x/high": 0.64, "y/estimate": 0.5, "y/low": 0.44, "y/high": 0.56}
        >>> check_targets([{"metric": "x/estimate", "above": "y/estimate"}], ci)[0].status
        'missed'
    """
    checks = []
    for target in targets:
        metric = target["metric"]
        if "equals" in target:
            checks.append(_check_equals(target, numbers))
            continue
        value = numbers.get(metric)
        numeric = _numeric(value)
        conditions: list[tuple[str, float | None, bool]] = []  # requirement, bound, whether it holds
        for key, symbol in (("min", ">="), ("max", "<=")):
            if key in target:
                bound = float(target[key])
                holds = numeric is not None and _holds(numeric, symbol, bound)
                conditions.append((f"{symbol} {target[key]}", bound, holds))
        for key, symbol in (("above", ">"), ("below", "<")):
            if key in target:
                reference = target[key]
                bound = _numeric(numbers.get(reference))
                apart = _interval_gap(numbers, metric, reference, above=key == "above")
                if apart is None:
                    holds = numeric is not None and bound is not None and _holds(numeric, symbol, bound)
                    conditions.append((f"{symbol} {reference}", bound, holds))
                else:
                    conditions.append((f"{symbol} {reference} (intervals apart)", bound, apart))
        if numeric is None or not conditions or any(bound is None for _, bound, _ in conditions):
            status = "not measured"
        else:
            status = "met" if all(holds for _, _, holds in conditions) else "missed"
        requirement = " and ".join(text for text, _, _ in conditions) or "(no condition)"
        checks.append(TargetCheck(metric, target.get("description", ""), requirement, value, status))
    return checks


def _interval_gap(numbers: Mapping[str, Number], metric: str, reference: str, *, above: bool) -> bool | None:
    """Whether two estimates' confidence intervals lie apart in the stated direction; None if either lacks one.

    Estimates end in ``/estimate`` with siblings ``/low`` and ``/high`` (as in ``metrics.json``); comparing point
    estimates would call a difference inside the sampling noise "met".
    """
    if not (metric.endswith("/estimate") and reference.endswith("/estimate")):
        return None
    bounds = []
    for path, side in ((metric, "low" if above else "high"), (reference, "high" if above else "low")):
        bounds.append(_numeric(numbers.get(path.removesuffix("estimate") + side)))
    if None in bounds:
        return None
    mine, theirs = bounds
    return mine > theirs if above else mine < theirs


def _check_equals(target: Mapping[str, Any], numbers: Mapping[str, Number]) -> TargetCheck:
    expected, value = target["equals"], numbers.get(target["metric"])
    if value is None:
        status = "not measured"
    elif isinstance(expected, bool) or isinstance(value, bool) or isinstance(expected, str):
        status = "met" if value == expected and type(value) is type(expected) else "missed"
    else:
        status = "met" if _numeric(value) is not None and float(value) == float(expected) else "missed"
    shown = format_value(expected) if isinstance(expected, bool) else expected
    return TargetCheck(target["metric"], target.get("description", ""), f"= {shown}", value, status)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _holds(value: float, symbol: str, bound: float) -> bool:
    return {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound}[symbol]


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def results_markdown(
    *,
    config: Mapping[str, Any],
    numbers: Mapping[str, Number],
    usage: Usage,
    assets: Sequence[Asset],
    written: Mapping[str, Mapping[str, str]],
    checks: Sequence[TargetCheck],
    record: Mapping[str, Any],
    pdf: BuildResult,
    out: str | Path,
    results: str | Path = "results",
) -> str:
    """Render RESULTS.md.

    Args:
        config: The resolved configuration.
        numbers: Numbers by path.
        usage: What the manuscript quotes and places.
        assets: Tables and figures found.
        written: Files written per asset key (``tables/NAME``, ``figures/NAME``), relative to ``out``.
        checks: Target checks.
        record: The paper's provenance record.
        pdf: The PDF build result.
        out: The paper folder (to read the stamped markdown tables back).
        results: The results folder the numbers were read from, named as given (``results``: ``results/``).

    Returns:
        The markdown text.
    """
    out = Path(out)
    decimals = int(config["report"]["decimals"])
    folder = Path(results).as_posix()  # as given: the workflow passes `results`
    lines = [
        "# econalign: results",
        "",
        f"Assembled by `econalign paper` from `{folder}/`: config `{record.get('config_hash')}`, seed "
        f"{record.get('seed')}, model `{config.get('model', {}).get('spec')}` (weights sha256 "
        f"`{record.get('model_sha256') or 'unknown'}`). Every number below is read from the results; the paper "
        "quotes the same values through `numbers.tex`.",
        "",
        "## Targets",
        "",
    ]
    lines += _targets_section(checks, decimals)
    lines += ["", "## Key numbers", "", "The numbers the manuscript quotes.", ""]
    lines += _numbers_section(numbers, usage, decimals)
    for stage, title in STAGE_TITLES.items():
        stage_assets = [asset for asset in assets if asset.stage == stage]
        lines += ["", f"## {title}", ""]
        if not stage_assets:
            lines.append(f"No {title.lower()} tables or figures were found.")
        for asset in stage_assets:
            lines += _asset_section(asset, written.get(asset.key, {}), out)
    missing = usage.missing(assets)
    lines += ["", "## Missing from the paper", ""]
    if missing:
        lines.append("The manuscript places these results, but the run did not produce them (marked in the PDF):")
        lines += [""] + [f"- `{name}`" for name in missing]
    else:
        lines.append("None: every table and figure the manuscript places was produced.")
    first, *rest = pdf.message.splitlines() or [""]
    lines += ["", "## PDF", "", first if pdf.built else f"Not built: {first}"]
    lines += ["", "```", *rest, "```"] if rest else []
    lines.append("")
    lines += _provenance_section(record)
    return "\n".join(lines).rstrip("\n") + "\n"


def _targets_section(checks: Sequence[TargetCheck], decimals: int) -> list[str]:
    if not checks:
        return ["No targets are configured (`report.targets`)."]
    missed = [check for check in checks if check.status != "met"]
    if missed:
        names = ", ".join(f"`{check.metric}` ({check.status})" for check in missed)
        summary = f"**{len(missed)} of {len(checks)} targets missed:** {names}."
    else:
        summary = f"All {len(checks)} targets met."
    lines = [summary, "", "| target | metric | value | required | status |", "| --- | --- | --- | --- | --- |"]
    for check in checks:
        value = "n/a" if check.value is None else format_value(check.value, decimals=decimals)
        status = check.status if check.status == "met" else f"**{check.status}**"
        lines.append(f"| {_md(check.description)} | `{check.metric}` | {value} | {_md(check.requirement)} | {status} |")
    return lines


def _numbers_section(numbers: Mapping[str, Number], usage: Usage, decimals: int) -> list[str]:
    by_macro = {macro_name(path): path for path in reversed(list(numbers))}
    if not usage.macros:
        return ["The manuscript quotes no numbers."]
    lines = ["| number | value | macro |", "| --- | --- | --- |"]
    for macro in usage.macros:
        path = by_macro.get(macro)
        value = "**missing**" if path is None else _md(format_value(numbers[path], decimals=decimals))
        lines.append(f"| `{path or '?'}` | {value} | `\\{macro}` |")
    return lines


def _asset_section(asset: Asset, files: Mapping[str, str], out: Path) -> list[str]:
    lines = [f"### `{asset.name}` ({asset.kind})", ""]
    if asset.kind == "table":
        if ".md" in files:
            lines.append((out / files[".md"]).read_text(encoding="utf-8").rstrip("\n"))
        else:
            lines.append(f"LaTeX only: [`{files.get('.tex')}`]({files.get('.tex')}).")
    else:
        if ".png" in files:
            lines.append(f"![{asset.name}]({files['.png']})")
        else:
            lines.append(f"PDF only: [`{files.get('.pdf')}`]({files.get('.pdf')}).")
        lines += ["", f"Provenance: [`{files.get('.provenance.json')}`]({files.get('.provenance.json')})."]
    return [*lines, ""]


def _provenance_section(record: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Provenance",
        "",
        f"- config hash: `{record.get('config_hash')}` (the resolved configuration is in `provenance.json`)",
        f"- seed: {record.get('seed')}",
        f"- model weights sha256: `{record.get('model_sha256') or 'unknown'}`",
    ]
    seeds = record.get("stage_seeds", {})
    if seeds:
        lines += ["", "| stage record | seed |", "| --- | --- |"]
        lines += [f"| `{path}` | {seed} |" for path, seed in seeds.items()]
    lines += ["", "| package | version |", "| --- | --- |"]
    lines += [f"| {name} | {version} |" for name, version in sorted(record.get("packages", {}).items())]
    inputs = record.get("inputs", {})
    if inputs:
        lines += ["", "| input | sha256 |", "| --- | --- |"]
        lines += [f"| `{path}` | `{digest}` |" for path, digest in inputs.items()]
    return lines
