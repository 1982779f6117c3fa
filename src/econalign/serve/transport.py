"""JSON over HTTP with bounded retries and exponential backoff (standard library only).

Transient failures are retried: connection errors and timeouts, HTTP 408, 409, 429 and 5xx (not 501, 505), and a 2xx
reply whose body is not the expected JSON. Other HTTP errors (400, 401, 403, 404, ...) are raised at
once. When the retries are spent, :class:`EndpointError` is raised: a failed request never becomes an
answer.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

RETRY_STATUS = frozenset({408, 409, 429})
PERMANENT_5XX = frozenset({501, 505})
"""Server errors that a retry cannot fix (not implemented, HTTP version); every other 5xx is retried."""


def is_retryable_status(code: int) -> bool:
    """Whether an HTTP error status is transient: 408, 409, 429, and 5xx but 501 and 505 (520-529 included).

    Example:
        >>> [is_retryable_status(code) for code in (400, 429, 501, 503, 529)]
        [False, True, False, True, True]
    """
    return code in RETRY_STATUS or (500 <= code <= 599 and code not in PERMANENT_5XX)


def strip_credentials(url: str) -> str:
    """Return ``url`` without user name, password or fragment (the parts that may hold credentials).

    Example:
        >>> strip_credentials("https://user:pw@api.example.com/v1#x")
        'https://api.example.com/v1'
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials written into ``url``: its user info (``user:password``, or a bare key) and the password.

    Example:
        >>> url_secrets("https://user:p%40ss@api.example.com/v1"), url_secrets("https://api.example.com/v1")
        (('user:p%40ss', 'p%40ss', 'p@ss'), ())
    """
    parts = urllib.parse.urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    if not userinfo:
        return ()
    _, _, password = userinfo.partition(":")
    return tuple(dict.fromkeys(s for s in (userinfo, password, urllib.parse.unquote(password)) if s))


class EndpointError(RuntimeError):
    """A request that failed for good (non-retryable status, or retries exhausted).

    Attributes:
        status: The last HTTP status, or ``None`` for connection errors and malformed replies.
        attempts: How many times the request was sent.
    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    The wait before retry ``i`` (1-based) is ``min(backoff_max, backoff_initial * backoff_factor ** (i - 1))``,
    or the server's ``Retry-After`` when that is larger (still capped at ``backoff_max``).

    Attributes:
        max_retries: Retries after the first attempt (0 = try once).
        backoff_initial: Seconds before the first retry.
        backoff_factor: Growth of the wait per retry.
        backoff_max: Upper bound of any single wait, in seconds.
        timeout: Seconds to wait for one response.
    """

    max_retries: int = 5
    backoff_initial: float = 1.0
    backoff_factor: float = 2.0
    backoff_max: float = 60.0
    timeout: float = 120.0

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based).

        Example:
            >>> RetryPolicy(backoff_initial=1.0, backoff_factor=2.0, backoff_max=5.0).wait(3)
            4.0
        """
        wait = self.backoff_initial * self.backoff_factor ** (retry - 1)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self.backoff_max, wait)


def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    validate: Callable[[Any], None] | None = None,
    redact: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST ``body`` as JSON and return the decoded JSON reply, retrying transient failures.

    Args:
        url: The endpoint; credentials in it (``https://user:password@host``) are used for the request but never
            appear in an error message, which names the URL without them.
        body: The JSON request body.
        headers: Extra headers (``Authorization`` ...); they are never included in error messages.
        policy: Retry and timeout settings.
        validate: Called on the decoded reply; raising ``ValueError``/``KeyError``/``TypeError`` marks the
            reply as malformed (retried like a server error).
        redact: Strings removed from error messages (the API key, should a server echo it); the URL's own
            credentials are always removed.
        sleep: The wait function (tests pass a fake).

    Returns:
        The decoded JSON object.

    Raises:
        EndpointError: For a non-retryable HTTP status, or when every attempt failed.
    """
    data = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    request_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    public_url = strip_credentials(url)
    redact = (*redact, *url_secrets(url))
    last: _Retryable | None = None
    for attempt in range(policy.max_retries + 1):
        if attempt:
            sleep(policy.wait(attempt, last.retry_after if last else None))
        try:
            return _attempt(url, public_url, data, request_headers, policy.timeout, validate, redact)
        except _Retryable as error:
            last = error
        except EndpointError as error:
            error.attempts = attempt + 1
            raise
    assert last is not None
    raise EndpointError(
        f"{public_url}: failed after {policy.max_retries + 1} attempts; last error: {last}",
        status=last.status,
        attempts=policy.max_retries + 1,
    )


def _attempt(
    url: str,
    public_url: str,
    data: bytes,
    headers: Mapping[str, str],
    timeout: float,
    validate: Callable[[Any], None] | None,
    redact: tuple[str, ...],
) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = _redact(error.read().decode("utf-8", "replace")[:500], redact)
        message = f"HTTP {error.code}: {detail}"
        if is_retryable_status(error.code):
            raise _Retryable(message, error.code, _retry_after(error.headers.get("Retry-After"))) from None
        raise EndpointError(f"{public_url}: {message}", status=error.code) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:  # OSError: SSL, resets, timeouts
        raise _Retryable(f"connection error: {_redact(str(error), redact)}") from None
    try:
        reply = json.loads(raw)
        if not isinstance(reply, dict):
            raise TypeError(f"expected a JSON object, got {type(reply).__name__}")
        if validate is not None:
            validate(reply)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise _Retryable(f"malformed reply ({type(error).__name__}: {_redact(str(error), redact)[:200]})") from None
    return reply


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: ignore, use the exponential schedule


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
