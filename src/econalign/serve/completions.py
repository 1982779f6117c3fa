"""Answer one chat-completions request with a local agent: validation, generation, token log-probs.

This is the server's logic without HTTP, so it can be tested and reused directly. Supported request
fields: ``model``, ``messages``, ``max_tokens`` (or ``max_completion_tokens``), ``temperature``, ``seed``,
``n``, ``stop``, ``logprobs``, ``top_logprobs``, and three extensions:

* ``continue_final_message`` (vLLM's name): the last message is an assistant message whose content is
  continued (prefilled) instead of starting a new turn;
* ``econalign_continuations`` (list of strings): each choice carries ``econalign_continuation_logprobs``,
  the agent's ``choice_logprobs`` of those continuations given the prompt (prefill included), i.e. the
  prompt-conditioned log-probs of candidate first tokens. ``max_tokens: 0`` then skips generation.
* ``logprobs`` needs next-token distributions (:mod:`econalign.serve.tokens`: the agent's own
  ``next_token_logprobs`` or its ``model``); an agent with neither refuses such requests with HTTP 400.

Replies are deterministic: ``id`` is derived from the request, ``created`` is 0, and choice ``i`` uses
``seed`` (``i = 0``) or ``derive_seed(seed, "choice", i)``. Unknown request fields are ignored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from econalign.io import derive_seed
from econalign.model.tokenizer import render_prompt
from econalign.serve.protocol import CONTINUATION_LOGPROBS_FIELD, CONTINUATIONS_FIELD
from econalign.serve.tokens import next_token_logprobs, supports_token_logprobs

ROLES = ("system", "developer", "user", "assistant")


class RequestError(ValueError):
    """A request the server refuses; ``status`` is the HTTP status, ``param`` the offending field."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param

    def payload(self) -> dict[str, Any]:
        """The OpenAI-style error body."""
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": str(self), "type": kind, "param": self.param, "code": None}}


def complete(agent: Any, body: Mapping[str, Any], *, model_name: str, max_tokens_limit: int = 4096) -> dict[str, Any]:
    """Compute the chat completion answering ``body`` with ``agent``.

    Args:
        agent: An object with the Agent interface (``generate``, ``choice_logprobs``, ``tokenizer``).
        body: The decoded request JSON.
        model_name: The served model's name; a request naming another model is refused (404).
        max_tokens_limit: Largest accepted ``max_tokens``.

    Returns:
        The ``chat.completion`` object.

    Raises:
        RequestError: For an invalid or unsupported request.
    """
    if body.get("stream"):
        raise RequestError("stream is not supported", param="stream")
    if body.get("model", model_name) != model_name:
        raise RequestError(
            f"model {body.get('model')!r} not found; this server serves {model_name!r}", status=404, param="model"
        )
    prompt = _prompt(agent, body)
    continuations = _continuations(body)
    max_tokens = _integer(
        body, "max_tokens", body.get("max_completion_tokens", 256), 0 if continuations else 1, max_tokens_limit
    )
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    seed = _integer(body, "seed", 0, 0, 2**63 - 1)
    n = _integer(body, "n", 1, 1, 16)
    want_logprobs = bool(body.get("logprobs", False))
    top_k = _integer(body, "top_logprobs", 0, 0, 20)
    if top_k and not want_logprobs:
        raise RequestError("top_logprobs requires logprobs: true", param="top_logprobs")
    if want_logprobs and not supports_token_logprobs(agent):
        raise RequestError(
            "this agent does not expose token log-probabilities; use econalign_continuations", param="logprobs"
        )
    stops = _stops(body)

    scores = None
    if continuations:
        scores = [
            float(value) for value in np.asarray(agent.choice_logprobs([prompt], [continuations])[0], dtype=np.float64)
        ]
    choices = []
    for index in range(n):
        choice_seed = seed if index == 0 else derive_seed(seed, "choice", index)
        text, finish = "", "length"
        if max_tokens > 0:
            text = agent.generate([prompt], max_new_tokens=max_tokens, temperature=temperature, seed=choice_seed)[0]
            text, finish = _truncate(agent.tokenizer, text, stops, max_tokens)
        choice: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
        }
        choice["logprobs"] = {"content": token_logprobs(agent, prompt, text, top_k)} if want_logprobs else None
        if scores is not None:
            choice[CONTINUATION_LOGPROBS_FIELD] = scores
        choices.append(choice)
    prompt_tokens = len(_encode(agent.tokenizer, render_prompt(agent.tokenizer, prompt)))
    completion_tokens = sum(len(_encode(agent.tokenizer, c["message"]["content"])) for c in choices)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return {
        "id": f"chatcmpl-{digest[:24]}",
        "object": "chat.completion",
        "created": 0,
        "model": model_name,
        "system_fingerprint": f"econalign-{str(getattr(agent, 'model_sha256', None) or 'unknown')[:12]}",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def token_logprobs(
    agent: Any, prompt: str | Sequence[Mapping[str, str]], text: str, top_k: int
) -> list[dict[str, Any]]:
    """OpenAI ``logprobs.content`` for ``text`` generated after ``prompt``.

    ``text`` is tokenized on its own (as the agent tokenizes continuations); position ``i`` is scored by
    :func:`~econalign.serve.tokens.next_token_logprobs` on the prompt's ids followed by the first ``i`` text
    ids, all positions in one batch. Each entry holds the token's text, its log-prob and the ``top_k`` most
    likely tokens (ties broken by token id).

    Args:
        agent: Agent with ``tokenizer`` and next-token distributions (:mod:`econalign.serve.tokens`).
        prompt: Chat messages or raw text.
        text: The generated text.
        top_k: Alternatives per position (0 gives empty lists).

    Returns:
        One dict per token: ``token``, ``logprob``, ``bytes``, ``top_logprobs``.
    """
    tokenizer = agent.tokenizer
    prompt_ids = _encode(tokenizer, render_prompt(tokenizer, prompt))
    ids = _encode(tokenizer, text) if text else []
    if not ids:
        return []
    rows = next_token_logprobs(agent, [prompt_ids + ids[:i] for i in range(len(ids))])
    content = []
    for position, token_id in enumerate(ids):
        row = rows[position]
        order = np.lexsort((np.arange(row.size), -row))[:top_k] if top_k else []
        content.append(
            {
                **_token_entry(tokenizer, token_id, row[token_id]),
                "top_logprobs": [_token_entry(tokenizer, int(alt), row[alt]) for alt in order],
            }
        )
    return content


def _token_entry(tokenizer: Any, token_id: int, logprob: float) -> dict[str, Any]:
    text = tokenizer.decode([int(token_id)])
    return {"token": text, "logprob": float(logprob), "bytes": list(text.encode("utf-8"))}


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer([text], add_special_tokens=False)["input_ids"][0])


def _prompt(agent: Any, body: Mapping[str, Any]) -> str | list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list", param="messages")
    clean = []
    for message in messages:
        if not isinstance(message, Mapping) or message.get("role") not in ROLES:
            raise RequestError(f"each message needs a role in {ROLES}", param="messages")
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
        if not isinstance(content, str):
            raise RequestError("message content must be a string", param="messages")
        role = "system" if message["role"] == "developer" else message["role"]
        clean.append({"role": role, "content": content})
    if not body.get("continue_final_message"):
        return clean
    if clean[-1]["role"] != "assistant" or len(clean) < 2:
        raise RequestError("continue_final_message needs a final assistant message", param="messages")
    return render_prompt(agent.tokenizer, clean[:-1]) + clean[-1]["content"]


def _continuations(body: Mapping[str, Any]) -> list[str] | None:
    values = body.get(CONTINUATIONS_FIELD)
    if values is None:
        return None
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise RequestError(
            f"{CONTINUATIONS_FIELD} must be a non-empty list of non-empty strings", param=CONTINUATIONS_FIELD
        )
    return values


def _stops(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise RequestError("stop must be a string or a list of up to 4 strings", param="stop")
    return stops


def _truncate(tokenizer: Any, text: str, stops: Sequence[str], max_tokens: int) -> tuple[str, str]:
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    if cut >= 0:
        return text[:cut], "stop"
    return text, "length" if len(_encode(tokenizer, text)) >= max_tokens else "stop"


def _integer(body: Mapping[str, Any], key: str, default: Any, low: int, high: int) -> int:
    value = body.get(key)
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(f"{key} must be an integer in [{low}, {high}], got {value!r}", param=key)
    return value


def _number(body: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key)
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RequestError(f"{key} must be a number in [{low}, {high}], got {value!r}", param=key)
    return float(value)
