"""Hosted and served models: an OpenAI-compatible client agent, a local server, a response cache.

Names load lazily: ``econalign.config`` calls ``hosted_name_errors`` on every validation (also while Snakemake plans
the DAG), which must not pay for polars and the HTTP client.
"""

from __future__ import annotations

from econalign._lazy import lazy_exports

_EXPORTS = {
    "ResponseCache": "econalign.serve.cache",
    "request_key": "econalign.serve.cache",
    "load_hosted_agent": "econalign.serve.hosted",
    "OpenAIChatAgent": "econalign.serve.openai_backend",
    "MissingAPIKeyError": "econalign.serve.openai_backend",
    "SampledChoices": "econalign.serve.sampling",
    "OptionScore": "econalign.serve.scoring",
    "score_options": "econalign.serve.scoring",
    "HostedSettings": "econalign.serve.settings",
    "hosted_name_errors": "econalign.serve.settings",
    "hosted_url_errors": "econalign.serve.settings",
    "hosted_entry": "econalign.serve.settings",
    "EndpointError": "econalign.serve.transport",
    "RetryPolicy": "econalign.serve.transport",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
