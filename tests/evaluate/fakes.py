"""Fake agents with the Agent interface: deterministic, counting every prompt they score."""

import hashlib
import json

import numpy as np


def _value(*parts) -> float:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2**32


class CountingAgent:
    """Log-probabilities are a fixed hash of (prompt, option); replies are given per call."""

    model_sha256 = "f" * 64

    def __init__(self, replies=None):
        self.scored = 0
        self.generated = 0
        self.calls = 0
        self.replies = replies
        self.generate_settings = set()

    def choice_logprobs(self, prompts, options):
        self.calls += 1
        self.scored += len(prompts)
        return [np.array([-3.0 * _value(p, o) for o in opts]) for p, opts in zip(prompts, options, strict=True)]

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, seed=0):
        self.generate_settings.add((max_new_tokens, temperature, seed if isinstance(seed, int) else tuple(seed)))
        self.calls += 1
        self.generated += len(prompts)
        return [self.replies(p) for p in prompts]
