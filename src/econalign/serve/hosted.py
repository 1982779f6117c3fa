"""Build the agent for one configured hosted model (the entry point the evaluation stage calls)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from econalign.serve.openai_backend import OpenAIChatAgent
from econalign.serve.settings import HostedSettings


def load_hosted_agent(
    hosted_entry: Mapping[str, Any], *, cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True
) -> OpenAIChatAgent:
    """Return an agent with the local Agent interface for one ``hosted:`` config entry.

    Args:
        hosted_entry: One entry of the config's ``hosted:`` list (validated here; defaults filled).
        cache_dir: Response cache folder; default ``{entry.cache_dir}/{entry.name}``.
        use_cache: ``False`` disables the cache (every call hits the endpoint).

    Returns:
        An :class:`~econalign.serve.openai_backend.OpenAIChatAgent` (``choice_logprobs``, ``generate``,
        ``sample_choices``; ``supports_logprobs`` tells which of the first and last the battery should use).

    Raises:
        econalign.config.ConfigError: If the entry does not satisfy the schema.

    Example:
        >>> agent = load_hosted_agent({"name": "gpt4o", "model": "gpt-4o-2024-08-06"}, use_cache=False)
        >>> agent.model_id, agent.supports_logprobs
        ('gpt-4o-2024-08-06@https://api.openai.com/v1', True)
    """
    settings = HostedSettings.from_entry(hosted_entry)
    if settings.backend != "openai":  # the schema allows only "openai" today; new backends dispatch here
        raise ValueError(f"unknown hosted backend {settings.backend!r}")
    if not use_cache:
        directory = None
    elif cache_dir is not None:
        directory = Path(cache_dir)
    else:
        directory = Path(settings.cache_dir) / settings.name
    return OpenAIChatAgent(settings, cache_dir=directory)
