"""Test doubles for the serve tests: a tiny but genuine language model with the Agent interface.

`FakeLM` defines next-token distributions over a small vocabulary (deterministic pseudo-random logits
plus a bias towards answering ``Decision: <label>``), and derives ``choice_logprobs`` (summed token
log-probs of each option, tokenized alone), ``generate`` (greedy or seeded sampling) and
``next_token_logprobs`` from them, the way the JAX agent does. Any log-prob served over HTTP can therefore
be checked against an independent in-process computation.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

WORDS = ["Decision", ":", " A", " B", " C", " I", " think", " refuse", "\n", "<eos>"]
CHARS = [chr(code) for code in range(32, 127)] + ["\n"]
EOS = "<eos>"


def decision_parser(text: str, labels: Sequence[str]) -> str | None:
    """A strict parser: the first line must be exactly ``Decision: <label>``."""
    match = re.fullmatch(r"Decision: (\S+)", text.split("\n", 1)[0])
    return match.group(1) if match and match.group(1) in labels else None


class FakeTokenizer:
    """Greedy longest-match tokenizer with a bracket chat template (the calls the serve code makes)."""

    chat_template = "bracket"

    def __init__(self) -> None:
        self.vocab = list(dict.fromkeys(WORDS + CHARS))
        self.ids = {token: index for index, token in enumerate(self.vocab)}
        self.eos_token_id = self.ids[EOS]

    def encode(self, text: str) -> list[int]:
        ids, position = [], 0
        while position < len(text):
            token = max((t for t in self.vocab if text.startswith(t, position)), key=len)
            ids.append(self.ids[token])
            position += len(token)
        return ids

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = False) -> dict[str, list[list[int]]]:
        return {"input_ids": [self.encode(text) for text in texts]}

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.vocab[i] for i in ids if i != self.eos_token_id)

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True) -> str:
        text = "".join(f"[{m['role']}] {m['content']}\n" for m in messages)
        return text + ("[assistant]" if add_generation_prompt else "")


class FakeLM:
    """A small deterministic language model with the Agent interface."""

    model_sha256 = "f" * 64

    def __init__(self, seed: int = 0) -> None:
        self.tokenizer = FakeTokenizer()
        self.seed = seed
        self.calls = 0
        ids = self.tokenizer.ids
        # After each token, a preferred next token: the model tends to answer "Decision: <label>\n<eos>".
        self._bias = {ids[":"]: {ids[" A"]: 4.0, ids[" B"]: 4.0, ids[" C"]: 3.0}, ids["Decision"]: {ids[":"]: 9.0}}
        for label in (" A", " B", " C"):
            self._bias[ids[label]] = {ids["\n"]: 6.0}
        self._bias[ids["\n"]] = {ids[EOS]: 6.0}
        self._start_bias = {ids["Decision"]: 8.0, ids[" I"]: 2.0}

    def render(self, prompt: str | Sequence[Mapping[str, str]]) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True)

    def next_token_logprobs(self, id_lists: Sequence[Sequence[int]]) -> np.ndarray:
        rows = []
        for ids in id_lists:
            digest = hashlib.sha256(json.dumps([self.seed, list(ids)]).encode()).digest()
            logits = np.random.default_rng(int.from_bytes(digest[:8], "little")).normal(
                0.0, 1.0, len(self.tokenizer.vocab)
            )
            last = ids[-1] if ids else None
            bias = self._bias.get(last) if last is not None and not self._at_start(ids) else self._start_bias
            for token, value in (bias or {}).items():
                logits[token] += value
            logits = logits - logits.max()
            rows.append(logits - np.log(np.exp(logits).sum()))
        return np.stack(rows)

    def _at_start(self, ids: Sequence[int]) -> bool:
        return self.tokenizer.decode(ids).endswith("[assistant]")

    def choice_logprobs(self, prompts, options):
        self.calls += 1
        single = isinstance(prompts, str) or (len(prompts) > 0 and isinstance(prompts[0], Mapping))
        prompt_list = [prompts] if single else list(prompts)
        per_prompt = [options] * len(prompt_list) if isinstance(options[0], str) else options
        out = []
        for prompt, opts in zip(prompt_list, per_prompt, strict=True):
            context = self.tokenizer.encode(self.render(prompt))
            scores = []
            for option in opts:
                option_ids = self.tokenizer.encode(option)
                rows = self.next_token_logprobs([context + option_ids[:j] for j in range(len(option_ids))])
                scores.append(float(sum(rows[j, token] for j, token in enumerate(option_ids))))
            out.append(np.array(scores, dtype=np.float64))
        return out[0] if single else out

    def generate(self, prompts, *, max_new_tokens: int, temperature: float = 0.0, seed: int = 0):
        self.calls += 1
        single = isinstance(prompts, str) or isinstance(prompts[0], Mapping)
        prompt_list = [prompts] if single else list(prompts)
        texts = []
        for prompt in prompt_list:
            rng = np.random.default_rng(seed)
            ids = self.tokenizer.encode(self.render(prompt))
            generated: list[int] = []
            for _ in range(max_new_tokens):
                row = self.next_token_logprobs([ids + generated])[0]
                if temperature == 0.0:
                    token = int(np.argmax(row))
                else:
                    probs = np.exp(row / temperature - np.max(row / temperature))
                    token = int(rng.choice(len(row), p=probs / probs.sum()))
                if token == self.tokenizer.eos_token_id:
                    break
                generated.append(token)
            texts.append(self.tokenizer.decode(generated))
        return texts[0] if single else texts


class ScriptedServer:
    """A loopback HTTP server that answers POSTs from a script: (status, body bytes) per request, in order.

    The last entry repeats once the script is exhausted. `hits` counts the requests received and
    `authorizations` keeps the Authorization headers (to check that the key is sent only there).
    """

    def __init__(
        self, script: Sequence[tuple[int, bytes]], headers: Mapping[str, str] | None = None, delay: float = 0.0
    ) -> None:
        self.script = list(script)
        self.hits = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[Any] = []
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        owner = self
        extra_headers = dict(headers or {})

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                time.sleep(delay)
                with owner._lock:
                    owner.in_flight -= 1
                    status, payload = owner.script[min(owner.hits, len(owner.script) - 1)]
                    owner.hits += 1
                    owner.bodies.append(json.loads(body))
                    owner.authorizations.append(self.headers.get("Authorization"))
                self.send_response(status)
                for key, value in extra_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()


def completion(content: str) -> bytes:
    """A minimal valid chat completion reply."""
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


def noop_sleep() -> tuple[list[float], Callable[[float], None]]:
    """A sleep stand-in recording the requested waits."""
    waits: list[float] = []
    return waits, waits.append
