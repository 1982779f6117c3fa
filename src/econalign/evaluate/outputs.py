"""Names of the battery's report outputs, light enough for the Snakefile to import while planning the DAG."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIGURE_NAMES", "TABLE_NAMES", "evaluated_agents", "report_outputs"]

TABLE_NAMES = (
    "agreement",
    "agreement_by_split",
    "own_versus_other",
    "belief_use",
    "cooperation",
    "presentation",
    "sensitivity",
    "utility",
)
"""Tables of ``report-games`` (``econalign.evaluate.tables.TABLES``), each written as ``.md`` and ``.tex``."""

FIGURE_NAMES = ("cooperation_vs_temptation", "agreement_by_split", "kappa_sweep")
"""Figures of ``report-games`` (``econalign.evaluate.figures.FIGURES``), each written as ``.png`` and ``.pdf``."""


def evaluated_agents(config: Mapping[str, Any]) -> list[str]:
    """The LLM agents of a study in display order: ``base``, the configured agents, then the hosted models.

    The configured agents include the κ grid; hosted models are the entries of ``hosted:``.

    Example:
        >>> evaluated_agents({"agents": [{"name": "moralis"}], "hosted": [{"name": "gpt4o"}]})
        ['base', 'moralis', 'gpt4o']
    """
    hosted = [entry["name"] for entry in config.get("hosted", [])]
    return ["base", *(agent["name"] for agent in config["agents"]), *hosted]


def report_outputs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Names of the tables and figures a study gets (the κ sweep only when the config trains a κ grid).

    Example:
        >>> from econalign.config import load_config
        >>> report_outputs(load_config())["figures"]
        ['cooperation_vs_temptation', 'agreement_by_split']
    """
    figures = [name for name in FIGURE_NAMES if name != "kappa_sweep"]
    if config.get("kappa_grid"):
        figures.append("kappa_sweep")
    return {"tables": list(TABLE_NAMES), "figures": figures}
