"""The JAX/Flax NNX model stack: Llama-family models, checkpoint preparation, tokenizer and the Agent.

Public names are re-exported lazily, so that ``econalign prepare-model`` and other light imports do not pay
for JAX and transformers until they use them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Agent": "econalign.model.agent",
    "load_agent": "econalign.model.agent",
    "Buckets": "econalign.model.buckets",
    "KVCache": "econalign.model.llama",
    "Llama": "econalign.model.llama",
    "LlamaConfig": "econalign.model.llama",
    "ModelOutput": "econalign.model.llama",
    "RopeScaling": "econalign.model.llama",
    "load_llama": "econalign.model.params",
    "prepare_model": "econalign.model.prepare",
    "load_tokenizer": "econalign.model.tokenizer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'econalign.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
