"""Applications of aligned agents: autonomous-vehicle dilemmas and repeated duopoly pricing.

Names load lazily: the Snakefile imports ``econalign.applications.pairings`` while planning the DAG, which must not
pay for polars, scipy or the theory stack.
"""

from __future__ import annotations

from econalign._lazy import lazy_exports
from econalign.applications.pairings import PAIRING_SEPARATOR, pricing_pairings, split_pairing

_EXPORTS = {
    "HUMAN_BENCHMARK": "econalign.applications.av",
    "av_scenarios": "econalign.applications.av",
    "score_av": "econalign.applications.av",
    "swerve_by_cell": "econalign.applications.av",
    "render_av_prompt": "econalign.applications.av_prompts",
    "PricingSetup": "econalign.applications.duopoly",
    "simulate": "econalign.applications.duopoly",
    "simulate_many": "econalign.applications.duopoly",
    "run_pairings": "econalign.applications.pricing_run",
    "reference_pricer": "econalign.applications.pricing_agents",
    "render_pricing_prompt": "econalign.applications.pricing_prompts",
    "episode_metrics": "econalign.applications.pricing_metrics",
    "firm_metrics": "econalign.applications.pricing_metrics",
    "pairing_table": "econalign.applications.pricing_metrics",
    "report_applications": "econalign.applications.report",
}

__all__ = ["PAIRING_SEPARATOR", "pricing_pairings", "split_pairing", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
