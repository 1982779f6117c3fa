"""What a prepared model directory's results depend on, as hashes.

``weights_sha256`` is the number reported next to results: rule ``prepare_model`` records it in the folder's
``provenance.json`` as ``model_sha256``. ``model_fingerprint`` also covers the files that decide how a prompt
becomes tokens and how the weights are read (architecture config, tokenizer, chat template), so that a cache of
scores or a resumable checkpoint keyed by it is never reused after one of them changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from econalign.io import sha256_file

WEIGHTS_FILE = "model.safetensors"
# Besides the weights, every file of the HF layout that can change a log-probability (transformers reads a chat
# template file in preference to the template in tokenizer_config.json).
FINGERPRINT_FILES = (
    "chat_template.jinja",
    "chat_template.json",
    "config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
)


def weights_sha256(model_dir: str | os.PathLike[str]) -> str | None:
    """The weights' sha256 recorded by ``prepare_model``, else the hash of ``model.safetensors``, else ``None``."""
    model_dir = Path(model_dir)
    record = model_dir / "provenance.json"
    if record.is_file():
        return json.loads(record.read_text(encoding="utf-8")).get("model_sha256")
    weights = model_dir / WEIGHTS_FILE
    return sha256_file(weights) if weights.is_file() else None


def model_fingerprint(model_dir: str | os.PathLike[str]) -> str | None:
    """One sha256 over the weights' hash and the config, tokenizer and chat-template files present.

    Returns:
        The hex digest, or ``None`` when the weights have no hash (then nothing keyed by the model can be reused).
    """
    model_dir = Path(model_dir)
    weights = weights_sha256(model_dir)
    if weights is None:
        return None
    digest = hashlib.sha256(f"weights:{weights}\n".encode())
    for name in FINGERPRINT_FILES:
        path = model_dir / name
        if path.is_file():
            digest.update(f"{name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()
