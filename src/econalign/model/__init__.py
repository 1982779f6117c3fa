"""The JAX/Flax NNX model stack: Llama-family models, checkpoint preparation, tokenizer and the Agent.

Public names are re-exported lazily, so that ``econalign prepare-model`` and other light imports do not pay
for JAX and transformers until they use them.
"""

from __future__ import annotations

from econalign._lazy import lazy_exports

_EXPORTS = {
    "Agent": "econalign.model.agent",
    "load_agent": "econalign.model.agent",
    "Buckets": "econalign.model.buckets",
    "DecodeBuffer": "econalign.model.llama",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
