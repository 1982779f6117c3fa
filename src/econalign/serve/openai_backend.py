"""An agent backed by an OpenAI-compatible chat-completions endpoint (hosted service, vLLM, ``econalign serve``).

:class:`OpenAIChatAgent` presents the local Agent interface (``choice_logprobs``, ``generate``) plus
``sample_choices`` for endpoints without log-probabilities, so the evaluation battery runs unchanged on
hosted models. Option log-probabilities come from one of three methods (``logprob_method``):

* ``top_logprobs`` (OpenAI, vLLM): a greedy reply with ``logprobs: true, top_logprobs: k``; the option
  log-probs are derived from the token log-probs as documented in :mod:`econalign.serve.scoring`.
* ``prefill`` (vLLM ``continue_final_message``): the options' common prefix (trailing whitespace removed)
  is sent as the start of the assistant message and the first generated tokens are read. The prefix's own
  log-prob is not reported by the endpoint, so the values are conditional on the prefix: the same constant
  is missing from every option, and choice probabilities are unaffected.
* ``continuations`` (``econalign serve`` only): the request carries ``econalign_continuations`` and the
  server returns the agent's own ``choice_logprobs``: exactly the in-process agent's when both load the model in
  the same dtype (``econalign serve --dtype``, default float32; the config's ``model.dtype``).

Every request goes through a bounded pool of ``max_concurrency`` threads, is retried with exponential
backoff (:mod:`econalign.serve.transport`) and is answered from the on-disk cache
(:mod:`econalign.serve.cache`) when the identical request was made before. The API key is read from the
environment variable ``api_key_env`` and only ever sent in the ``Authorization`` header: it is not part of
any request body, cache key, cache file, error message or ``repr``. When ``api_key_env`` names a variable that is
unset or empty, the first request the cache cannot answer raises :class:`MissingAPIKeyError` (nothing is sent
without the key; a fully cached rerun needs none); ``api_key_env: null`` sends no key, for servers without auth.
Credentials written into ``base_url`` (``https://user:password@host/v1``) are not part of ``model_id``,
``describe()``, a cache entry or an error message (the client does not authenticate with them: use ``api_key_env``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from econalign.config import ConfigError
from econalign.io import derive_seed
from econalign.serve.cache import ResponseCache, strip_credentials
from econalign.serve.protocol import CONTINUATION_LOGPROBS_FIELD, CONTINUATIONS_FIELD
from econalign.serve.sampling import Parser, SampledChoices, default_parser, tally
from econalign.serve.scoring import OptionScore, score_options, split_options
from econalign.serve.settings import HostedSettings
from econalign.serve.transport import EndpointError, RetryPolicy, post_json

Prompt = str | Sequence[Mapping[str, str]]


class MissingAPIKeyError(ConfigError):
    """The variable ``api_key_env`` names is unset or empty, and a request must go to the endpoint.

    A configuration error (the CLI exits with status 2): export the key, or set ``api_key_env: null`` for an
    endpoint without authentication.
    """


class OpenAIChatAgent:
    """The Agent interface over an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        settings: The hosted model's settings (one ``hosted:`` config entry).
        cache_dir: Directory of the response cache (``None``: no cache).
        parse: Strict decision parser for :meth:`sample_choices` (default: ``econalign.data.answers.parse_decision``).
        sleep: Wait function used between retries (tests pass a fake).

    Attributes:
        stats: Counters (``requests`` sent, ``cache_hits``, ``absent_options``, ``unscorable``, ...).
        model_sha256: Always ``None``: hosted weights cannot be hashed; ``model_id`` names the model.
    """

    tokenizer = None
    model_sha256 = None

    def __init__(
        self,
        settings: HostedSettings,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        parse: Parser | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._api_key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
        # Checked at the first request the cache cannot answer, not here: a fully cached rerun needs no key.
        self._key_missing = bool(settings.api_key_env) and not self._api_key
        self.cache = ResponseCache(cache_dir, secrets=[self._api_key]) if cache_dir is not None else None
        self._parse = parse
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stats = dict.fromkeys(("requests", "cache_hits", "absent_options", "unscorable", "preamble"), 0)
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.policy = RetryPolicy(
            max_retries=settings.max_retries,
            backoff_initial=settings.backoff_initial,
            backoff_factor=settings.backoff_factor,
            backoff_max=settings.backoff_max,
            timeout=settings.timeout,
        )

    def __repr__(self) -> str:
        return f"OpenAIChatAgent(name={self.settings.name!r}, model={self.settings.model!r}, url={self.url_public!r})"

    @property
    def url_public(self) -> str:
        """The endpoint URL without credentials."""
        return strip_credentials(self.url)

    @property
    def model_id(self) -> str:
        """A readable identity of the model: ``<model>@<endpoint>``."""
        return f"{self.settings.model}@{strip_credentials(self.settings.base_url)}"

    @property
    def supports_logprobs(self) -> bool:
        """Whether :meth:`choice_logprobs` is available (else use :meth:`sample_choices`)."""
        return self.settings.logprobs

    def describe(self) -> dict[str, Any]:
        """A JSON-able provenance record of this agent (settings and counters; never the key)."""
        return {
            "backend": "openai",
            "model_id": self.model_id,
            "settings": self.settings.public(),
            # Traffic counters (requests sent, cache hits) depend on what a previous run cached: left out, so the
            # record is byte-identical on a rerun.
            "stats": {key: value for key, value in self.stats.items() if key not in ("requests", "cache_hits")},
        }

    # ---- the Agent interface ------------------------------------------------------------------------

    def choice_logprobs(
        self, prompts: Prompt | Sequence[Prompt], options: Sequence[str] | Sequence[Sequence[str]]
    ) -> np.ndarray | list[np.ndarray]:
        """Log-probability of each option given each prompt (see the module docstring for the method).

        Args:
            prompts: One prompt or a list; a prompt is a list of chat messages or a raw string (sent as a
                single user message).
            options: Continuation strings shared by every prompt, or one list per prompt.

        Returns:
            A float64 array ``[n_options]`` for one prompt, else a list of them. Prompts whose reply could
            not be scored give NaN (counted in ``stats["unscorable"]``).

        Raises:
            NotImplementedError: The model is configured with ``logprobs: false``.
            EndpointError: A request failed after its retries.
            MissingAPIKeyError: A request not in the cache, while the ``api_key_env`` variable is unset or empty.
        """
        if not self.settings.logprobs:
            raise NotImplementedError(
                f"hosted model {self.settings.name!r} has logprobs: false; use sample_choices() instead"
            )
        single, prompt_list = _as_prompt_list(prompts)
        option_lists = _per_prompt_options(options, len(prompt_list))
        bodies, finishers = [], []
        for prompt, opts in zip(prompt_list, option_lists, strict=True):
            body, finish = self._scoring_request(_as_messages(prompt), list(opts))
            bodies.append(body)
            finishers.append(finish)
        replies = self._run(bodies)
        results = [finish(reply) for finish, reply in zip(finishers, replies, strict=True)]
        return results[0] if single else results

    def generate(
        self,
        prompts: Prompt | Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int | Sequence[int] | None = 0,
    ) -> str | list[str]:
        """Generate one reply per prompt.

        Args:
            prompts: One prompt or a list (chat messages or raw strings).
            max_new_tokens: Token budget of each reply (sent as ``max_tokens_param``).
            temperature: Sampling temperature (omitted when the settings' ``temperature`` is null).
            seed: The requests' ``seed``: one for every prompt, or one per prompt (as ``Agent.generate``); None sends
                none.

        Returns:
            For one prompt its reply; for a list, the replies in prompt order (as ``Agent.generate``).
        """
        single, prompt_list = _as_prompt_list(prompts)
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds: list[int | None] = [None if seed is None else int(seed)] * len(prompt_list)
        else:
            seeds = [int(s) for s in seed]
        if len(seeds) != len(prompt_list):
            raise ValueError(f"{len(prompt_list)} prompts but {len(seeds)} seeds")
        bodies = [
            self._body(_as_messages(prompt), max_tokens=max_new_tokens, temperature=temperature, seed=prompt_seed)
            for prompt, prompt_seed in zip(prompt_list, seeds, strict=True)
        ]
        replies = [_contents(reply)[0] for reply in self._run(bodies)]
        return replies[0] if single else replies

    def sample_choices(
        self,
        prompts: Prompt | Sequence[Prompt],
        labels: Sequence[str] | Sequence[Sequence[str]],
        n: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> SampledChoices | list[SampledChoices]:
        """Sample ``n`` replies per prompt, parse each strictly and count the chosen labels.

        Args:
            prompts: One prompt or a list.
            labels: Option labels shared by every prompt, or one list per prompt.
            n: Replies per prompt (default: the settings' ``n_samples``).
            temperature: Sampling temperature (default: the settings' ``temperature``).
            seed: Base seed; request ``k`` of a prompt uses ``derive_seed(seed, k)`` (default: settings).

        Returns:
            A :class:`SampledChoices` (counts, frequencies among parsed replies, parse-failure rate, replies) for
            one prompt; for a list, one per prompt.
        """
        settings = self.settings
        n = settings.n_samples if n is None else int(n)
        temperature = settings.temperature if temperature is None else temperature
        seed = settings.seed if seed is None else seed
        single, prompt_list = _as_prompt_list(prompts)
        label_lists = _per_prompt_options(labels, len(prompt_list))
        per_request = max(1, settings.n_per_request)
        sizes = [min(per_request, n - start) for start in range(0, n, per_request)]
        bodies = []
        for prompt in prompt_list:
            messages = _as_messages(prompt)
            for k, size in enumerate(sizes):
                body = self._body(
                    messages,
                    max_tokens=settings.max_tokens,
                    temperature=temperature,
                    seed=None if seed is None else derive_seed(seed, k),
                )
                if size > 1:
                    body["n"] = size
                bodies.append(body)
        replies = self._run(bodies)
        parse = self._parse or default_parser()
        results = []
        for index, prompt_labels in enumerate(label_lists):
            texts = [
                text for reply in replies[index * len(sizes) : (index + 1) * len(sizes)] for text in _contents(reply)
            ]
            if len(texts) != n:
                raise EndpointError(f"{self.url_public}: asked for {n} replies, received {len(texts)}")
            results.append(tally(texts, list(prompt_labels), parse))
        return results[0] if single else results

    # ---- requests -----------------------------------------------------------------------------------

    def _body(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float | None, seed: int | None
    ) -> dict[str, Any]:
        settings = self.settings
        body: dict[str, Any] = {**settings.extra_body, "model": settings.model, "messages": messages}
        body[settings.max_tokens_param] = int(max_tokens)
        if settings.temperature is not None and temperature is not None:
            body["temperature"] = float(temperature)
        if seed is not None:
            body["seed"] = int(seed)
        if settings.reasoning_effort is not None:
            body["reasoning_effort"] = settings.reasoning_effort
        return body

    def _scoring_request(
        self, messages: list[dict[str, str]], options: list[str]
    ) -> tuple[dict[str, Any], Callable[[dict[str, Any]], np.ndarray]]:
        settings = self.settings
        method = settings.logprob_method
        if method == "continuations":
            body = self._body(messages, max_tokens=0, temperature=0.0, seed=settings.seed)
            body[CONTINUATIONS_FIELD] = options
            return body, lambda reply: _continuation_logprobs(reply, len(options))
        prefix, _ = split_options(options)
        allow_preamble = True
        if method == "prefill":
            prefill = prefix.rstrip()
            messages = [*messages, {"role": "assistant", "content": prefill}]
            options = [option[len(prefill) :] for option in options]
            allow_preamble = False
        body = self._body(messages, max_tokens=settings.score_max_tokens, temperature=0.0, seed=settings.seed)
        body.update(logprobs=True, top_logprobs=settings.top_logprobs)
        if method == "prefill":
            body.update(continue_final_message=True, add_generation_prompt=False)

        def finish(reply: dict[str, Any]) -> np.ndarray:
            if not _contents(reply)[0]:
                # A refusal or a filtered reply has no tokens to score: that item is unscorable, not the run.
                with self._lock:
                    self.stats["unscorable"] += 1
                return np.full(len(options), math.nan)
            content = _token_logprobs(reply, self.url_public)
            score = score_options(content, options, allow_preamble=allow_preamble, logprob_floor=settings.logprob_floor)
            self._count(score)
            return score.logprobs

        return body, finish

    def _count(self, score: OptionScore) -> None:
        with self._lock:
            self.stats["absent_options"] += score.absent
            self.stats["unscorable"] += score.unscorable is not None
            self.stats["preamble"] += score.preamble_tokens > 0

    def _run(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if not bodies:
            return []
        workers = max(1, min(self.settings.max_concurrency, len(bodies)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hosted") as pool:
            return list(pool.map(self._request, bodies))

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.cache is not None:
            cached = self.cache.get(self.url, body)
            if cached is not None:
                with self._lock:
                    self.stats["cache_hits"] += 1
                return cached
        if self._key_missing:
            raise MissingAPIKeyError(
                f"hosted model {self.settings.name}: {self.settings.api_key_env} is unset or empty; export it, "
                "or set api_key_env: null for a server without auth"
            )
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        with self._lock:
            self.stats["requests"] += 1
        reply = post_json(
            self.url,
            body,
            headers=headers,
            policy=self.policy,
            validate=_validate_reply,
            redact=(self._api_key,),
            sleep=self._sleep,
        )
        if self.cache is not None:
            self.cache.put(self.url, body, reply)
        return reply


def _validate_reply(reply: Any) -> None:
    # Structural check of a chat completion; a failure makes the transport retry (malformed reply).
    choices = reply["choices"]
    if not isinstance(choices, list) or not choices:
        raise ValueError("reply has no choices")
    for choice in choices:
        content = choice["message"].get("content")
        if content is not None and not isinstance(content, str):
            raise TypeError("message content is not a string")


def _contents(reply: Mapping[str, Any]) -> list[str]:
    # A null content (a refusal) is an empty reply: the strict parser counts it as a failure.
    return [choice["message"].get("content") or "" for choice in reply["choices"]]


def _token_logprobs(reply: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    logprobs = reply["choices"][0].get("logprobs") or {}
    content = logprobs.get("content")
    if not content:
        raise EndpointError(f"{url}: the reply carries no token log-probabilities; configure logprobs: false")
    return content


def _continuation_logprobs(reply: Mapping[str, Any], n_options: int) -> np.ndarray:
    values = reply["choices"][0].get(CONTINUATION_LOGPROBS_FIELD)
    if not isinstance(values, list) or len(values) != n_options:
        raise EndpointError(f"the endpoint does not implement {CONTINUATIONS_FIELD}; use logprob_method top_logprobs")
    return np.array([math.nan if value is None else float(value) for value in values], dtype=np.float64)


def _is_messages(prompt: Any) -> bool:
    return isinstance(prompt, Sequence) and not isinstance(prompt, str) and all(isinstance(m, Mapping) for m in prompt)


def _as_prompt_list(prompts: Prompt | Sequence[Prompt]) -> tuple[bool, list[Prompt]]:
    if isinstance(prompts, str) or (_is_messages(prompts) and len(prompts) > 0):
        return True, [prompts]
    return False, list(prompts)


def _as_messages(prompt: Prompt) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(message["role"]), "content": str(message["content"])} for message in prompt]


def _per_prompt_options(options: Sequence[Any], n_prompts: int) -> list[Sequence[str]]:
    if options and all(isinstance(option, str) for option in options):
        return [options] * n_prompts
    if len(options) != n_prompts:
        raise ValueError(f"got {len(options)} option lists for {n_prompts} prompts")
    return list(options)
