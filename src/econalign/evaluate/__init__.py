"""The game battery: agents and reference rules on the test splits, metrics with uncertainty, tables and figures.

Figures and the ``report-games`` command live in ``econalign.evaluate.figures`` / ``.report`` (they import
matplotlib) and are not re-exported here. Names load lazily: the Snakefile imports
``econalign.evaluate.outputs`` while planning the DAG, which must not pay for polars, scipy or the theory stack.
"""

from __future__ import annotations

from econalign._lazy import lazy_exports

_EXPORTS = {
    "build_battery": "econalign.evaluate.battery",
    "evaluate_agent": "econalign.evaluate.battery",
    "evaluate_hosted": "econalign.evaluate.battery",
    "evaluate_references": "econalign.evaluate.battery",
    "evaluate_scorer": "econalign.evaluate.battery",
    "BENCHMARKS": "econalign.evaluate.benchmarks",
    "Benchmark": "econalign.evaluate.benchmarks",
    "ScoreCache": "econalign.evaluate.cache",
    "summarise": "econalign.evaluate.metrics",
    "item_results": "econalign.evaluate.per_item",
    "Theory": "econalign.evaluate.predictions",
    "theories_from_config": "econalign.evaluate.predictions",
    "reference_scorers": "econalign.evaluate.reference",
    "AgentScorer": "econalign.evaluate.scoring",
    "Scorer": "econalign.evaluate.scoring",
    "Scores": "econalign.evaluate.scoring",
    "fit_linear_probability": "econalign.stats",
    "fit_logit": "econalign.stats",
    "wilson_interval": "econalign.stats",
}

__all__ = [*_EXPORTS]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
