"""Prompt templates, dataset synthesis and the dataset card (imports theory, never model code).

Names load lazily, so that ``econalign.data.answers`` (the decision line, needed by training and serving) comes
without the game theory behind the templates.
"""

from __future__ import annotations

from econalign._lazy import lazy_exports

_EXPORTS = {
    "render_target": "econalign.data.reasoning",
    "DATASET_SCHEMA": "econalign.data.synthesize",
    "DATASET_VERSION": "econalign.data.synthesize",
    "SPLITS": "econalign.data.synthesize",
    "TEST_SPLITS": "econalign.data.synthesize",
    "DECISION_PREFIX": "econalign.data.answers",
    "decision_line": "econalign.data.answers",
    "parse_decision": "econalign.data.answers",
    "TEMPLATES": "econalign.data.templates",
    "RenderedItem": "econalign.data.templates",
    "render_item": "econalign.data.templates",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
