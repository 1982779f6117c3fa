"""econalign: align LLM agents with explicit economic preferences.

The SDK, in three lines (see README.md and docs/sdk.md)::

    import econalign as ea
    agent = ea.align("smollm2-135m-instruct", ea.HomoMoralis(kappa=0.5))
    agent.play(ea.games.PrisonersDilemma(T=5, R=3, P=1, S=0), belief=0.5)

Names load lazily, so ``import econalign`` (and the ``econalign`` command line) never pays for JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module defining it; each is imported on first access.
_EXPORTS = {
    "AlignedAgent": "econalign.sdk",
    "Decision": "econalign.sdk",
    "align": "econalign.sdk",
    "base_agent": "econalign.sdk",
    "play": "econalign.sdk",
    "HomoEconomicus": "econalign.theory.preferences",
    "HomoMoralis": "econalign.theory.preferences",
    "load_agent": "econalign.model.agent",
}

if TYPE_CHECKING:
    from econalign import games
    from econalign.model.agent import load_agent
    from econalign.sdk import AlignedAgent, Decision, align, base_agent, play
    from econalign.theory.preferences import HomoEconomicus, HomoMoralis

__all__ = [
    "AlignedAgent",
    "Decision",
    "HomoEconomicus",
    "HomoMoralis",
    "__version__",
    "align",
    "base_agent",
    "games",
    "load_agent",
    "play",
]


def __getattr__(name: str) -> Any:
    if name == "games":
        return importlib.import_module("econalign.games")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'econalign' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
