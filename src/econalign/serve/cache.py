"""On-disk cache of endpoint responses, keyed by the full request, which doubles as the audit trail.

A request is identified by the sha256 of the canonical JSON of ``{"url": ..., "body": ...}``: the endpoint
URL (credentials stripped) and the complete request body. Headers never enter the key, so the API key
(sent only in the ``Authorization`` header) can change without invalidating the cache and never reaches
disk. Each entry is one JSON file ``<dir>/<key[:2]>/<key>.json`` holding the key, the request and the
response, written atomically; a re-run with the same requests reads every answer from disk and sends
nothing. Only successful responses are stored, so a failed request is retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from econalign.io import dumps_json, write_atomic
from econalign.serve.transport import strip_credentials

CACHE_FORMAT = 1


class SecretLeakError(RuntimeError):
    """A cache entry would have contained a secret; nothing was written."""


def canonical_request(url: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The record a cache key is computed from: the credential-free URL and the full request body."""
    return {"body": dict(body), "url": strip_credentials(url)}


def request_key(url: str, body: Mapping[str, Any]) -> str:
    """Return the cache key of a request: sha256 hex of the canonical JSON of :func:`canonical_request`.

    Example:
        >>> request_key("http://h/v1/chat/completions", {"a": 1, "b": 2}) == request_key(
        ...     "http://h/v1/chat/completions", {"b": 2, "a": 1}
        ... )
        True
    """
    text = json.dumps(canonical_request(url, body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """A directory of request/response records, one JSON file per request.

    Args:
        directory: Where entries live (created on first write).
        secrets: Strings that must never be written (API keys); an entry containing one raises
            :class:`SecretLeakError` instead of being written.
    """

    def __init__(self, directory: str | os.PathLike[str], *, secrets: Iterable[str] = ()) -> None:
        self.directory = Path(directory)
        self._secrets = tuple(secret for secret in secrets if secret)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r})"

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) the entry ``key``."""
        return self.directory / key[:2] / f"{key}.json"

    def get(self, url: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the cached response to this request, or ``None`` (counted as a hit or a miss)."""
        path = self.path(request_key(url, body))
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            entry = None
        except json.JSONDecodeError:
            entry = None  # a damaged file: treat as absent, it is overwritten on success
        if not isinstance(entry, dict) or "response" not in entry:
            entry = None
        with self._lock:
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
        return None if entry is None else entry["response"]

    def put(self, url: str, body: Mapping[str, Any], response: Mapping[str, Any]) -> Path:
        """Store the response to a request atomically and return the file written.

        Raises:
            SecretLeakError: If a configured secret occurs anywhere in the entry.
        """
        key = request_key(url, body)
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "request": canonical_request(url, body),
            "response": dict(response),
        }
        text = dumps_json(entry)
        if any(secret in text for secret in self._secrets):
            raise SecretLeakError("refusing to write a cache entry that contains a secret (API key)")
        return write_atomic(self.path(key), text.encode("utf-8"))

    def entries(self) -> Iterator[dict[str, Any]]:
        """Yield every stored entry, in key order (the audit trail)."""
        for path in sorted(self.directory.glob("??/*.json")):
            yield json.loads(path.read_text(encoding="utf-8"))
