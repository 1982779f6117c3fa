"""A score cache, so that re-running the battery never scores the same prompt with the same weights twice.

An entry is keyed by the model weights' sha256, the adapter's content hash (``econalign.io.adapter_hash``, re-exported
here; hidden files such as Snakemake's ``.snakemake_timestamp`` are not part of it), the item id and a hash of
everything that determines the model's answer (messages, option continuations, scoring mode, generation settings).
One parquet file per (model, adapter) pair keeps concurrent jobs for different agents apart.

What the key cannot see is the code that computes the scores. ``SCORE_REVISION`` stands for it: every entry records
the revision it was computed under, and entries of another revision (or from a file that predates the column) are
dropped when the file is read, so a fix to the model stack's numerics is never hidden by scores cached before it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from econalign.io import NO_ADAPTER, adapter_hash, write_parquet

__all__ = ["NO_ADAPTER", "SCORE_REVISION", "ScoreCache", "adapter_hash", "prompt_hash"]

SCORE_REVISION = 1
"""Bump when a change to the model stack (forward pass, LoRA merge, tokenizer, generation) changes what an agent
scores for the same prompt; cached entries of earlier revisions are then scored again."""

_SCHEMA = {
    "key": pl.String,
    "revision": pl.Int64,
    "model_sha256": pl.String,
    "adapter_hash": pl.String,
    "item_id": pl.String,
    "prompt_hash": pl.String,
    "logprobs": pl.List(pl.Float64),
    "response": pl.String,
}


def prompt_hash(prompt: Any, options: Sequence[str], **settings: Any) -> str:
    """sha256 of a prompt, its option continuations and the scoring settings (canonical JSON).

    Args:
        prompt: Chat messages or a raw string.
        options: The continuation strings scored (or the labels parsed, in reasoning mode).
        **settings: Whatever else changes the answer (mode, max_new_tokens, temperature, seed).

    Returns:
        64 hex digits.
    """
    payload = json.dumps({"prompt": prompt, "options": list(options), "settings": settings}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _key(model_sha256: str, adapter: str, item_id: str, prompt: str) -> str:
    return hashlib.sha256(f"{model_sha256}\0{adapter}\0{item_id}\0{prompt}".encode()).hexdigest()


class ScoreCache:
    """Scores of one (model, adapter) pair, read from and written to one parquet file.

    Args:
        path: The cache file (created on ``save``), or None for a cache that lives in memory only.
        model_sha256: sha256 identifying the model: its fingerprint (weights, config, tokenizer, chat template;
            ``econalign.model.identity.model_fingerprint``), or for a hosted model its id.
        adapter: ``adapter_hash`` of the adapter (``"none"`` for the base model).

    Example:
        >>> cache = ScoreCache(None, model_sha256="m", adapter="none")
        >>> cache.put("item-1", "p", logprobs=[-0.1, -2.3])
        >>> cache.get("item-1", "p")["logprobs"]
        [-0.1, -2.3]
        >>> cache.get("item-1", "other prompt") is None
        True
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, model_sha256: str, adapter: str) -> None:
        self.path = None if path is None else Path(path)
        self.model_sha256 = model_sha256
        self.adapter = adapter
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if self.path is not None and self.path.exists():
            stored = pl.read_parquet(self.path)
            if "revision" in stored.columns:
                current = stored.filter(pl.col("revision") == SCORE_REVISION)
            else:
                current = stored.clear()
            self._dirty = current.height < stored.height  # the next save drops the stale entries
            for row in current.iter_rows(named=True):
                self._entries[row["key"]] = row

    @staticmethod
    def file_name(model_sha256: str, adapter: str) -> str:
        """Cache file name for a (model, adapter) pair."""
        return f"{model_sha256[:16]}-{adapter[:16]}.parquet"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, item_id: str, prompt: str) -> dict[str, Any] | None:
        """The cached entry for an item and prompt hash, or None (``logprobs`` and/or ``response``)."""
        return self._entries.get(_key(self.model_sha256, self.adapter, item_id, prompt))

    def put(
        self, item_id: str, prompt: str, *, logprobs: Iterable[float] | None = None, response: str | None = None
    ) -> None:
        """Store the scores of one item (in memory until ``save``)."""
        key = _key(self.model_sha256, self.adapter, item_id, prompt)
        self._entries[key] = {
            "key": key,
            "revision": SCORE_REVISION,
            "model_sha256": self.model_sha256,
            "adapter_hash": self.adapter,
            "item_id": item_id,
            "prompt_hash": prompt,
            "logprobs": None if logprobs is None else [float(v) for v in logprobs],
            "response": response,
        }
        self._dirty = True

    def save(self) -> None:
        """Write the cache file atomically (entries sorted by key); a no-op in memory or when nothing changed."""
        if self.path is None or not self._dirty:
            return
        rows: list[Mapping[str, Any]] = [self._entries[key] for key in sorted(self._entries)]
        write_parquet(self.path, pl.DataFrame(rows, schema=_SCHEMA))
        self._dirty = False
