"""Supervised fine-tuning in JAX/optax: examples, schedule, steps, checkpoints, sharding and PEFT export.

Public names are re-exported lazily so that importing the package does not pay for JAX.
"""

from __future__ import annotations

from econalign._lazy import lazy_exports

_EXPORTS = {
    "train": "econalign.train.loop",
    "evaluate": "econalign.train.loop",
    "make_plan": "econalign.train.loop",
    "TrainResult": "econalign.train.loop",
    "TrainingDivergedError": "econalign.train.loop",
    "make_optimizer": "econalign.train.optim",
    "learning_rate_schedule": "econalign.train.optim",
    "save_checkpoint": "econalign.train.checkpoint",
    "load_checkpoint": "econalign.train.checkpoint",
    "Example": "econalign.train.data",
    "choose_buckets": "econalign.train.data",
    "encode_rows": "econalign.train.examples",
    "encode_validation": "econalign.train.examples",
    "make_mesh": "econalign.train.sharding",
    "save_adapter": "econalign.train.export",
    "save_merged": "econalign.train.export",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
