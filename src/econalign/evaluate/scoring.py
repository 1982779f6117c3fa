"""The scorer interface, and the scorer of a language-model agent (log-probabilities or reasoning first).

A scorer turns battery items into option probabilities, one array per item in presentation order. LLM agents and
the reference rules (``econalign.evaluate.reference``) implement the same interface, so every metric is computed by
one code path and the reference rules check it end to end.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import polars as pl
from scipy import special

from econalign.data.answers import decision_line
from econalign.evaluate.cache import ScoreCache, prompt_hash
from econalign.evaluate.parse import parse_choice
from econalign.io import derive_seed

__all__ = ["AgentScorer", "Scorer", "Scores", "argmax_choices", "softmax_options"]

log = logging.getLogger(__name__)

MODES = ("logprob", "reasoning", "sampled")
GENERATING_MODES = ("reasoning", "sampled")
"""Modes whose agent writes a reply that is parsed, and so can fail to parse (``logprob`` reads option scores)."""


@dataclasses.dataclass(frozen=True)
class Scores:
    """What a scorer says about each item.

    Attributes:
        probs: Option probabilities per item, presentation order; all NaN when the item has no answer (a reply that
            did not parse, an unscorable item, or no sampled reply that parsed).
        logprobs: Summed option log-probabilities per item (None where not scored by log-probability).
        responses: Generated replies (reasoning mode), else None per item.
        parse_failed: Whether each item's reply failed the strict parser (in sampled mode: every sampled reply failed;
            always False in log-probability mode).
        unscorable: Whether the agent could not score the item (NaN log-probabilities, e.g. a hosted reply without
            the decision line); None: no item is.
        n_samples: Replies sampled per item (sampled mode), else None.
        reply_failure: Share of each item's sampled replies that did not parse (sampled mode), else None.
    """

    probs: list[np.ndarray]
    logprobs: list[np.ndarray | None]
    responses: list[str | None]
    parse_failed: np.ndarray
    unscorable: np.ndarray | None = None
    n_samples: np.ndarray | None = None
    reply_failure: np.ndarray | None = None

    @classmethod
    def from_probs(cls, probs: Sequence[np.ndarray]) -> Scores:
        """Scores of a rule that only has probabilities."""
        n = len(probs)
        return cls([np.asarray(p, dtype=np.float64) for p in probs], [None] * n, [None] * n, np.zeros(n, dtype=bool))


class Scorer(Protocol):
    """Anything that assigns option probabilities to battery items."""

    name: str

    def score(self, battery: pl.DataFrame) -> Scores:
        """Option probabilities for every row of the battery (see ``econalign.evaluate.items``)."""
        ...


def softmax_options(logprobs: np.ndarray) -> np.ndarray:
    """Choice probabilities from the options' summed log-probabilities (a softmax over the options).

    Example:
        >>> softmax_options(np.log(np.array([0.2, 0.6]))).round(3).tolist()
        [0.25, 0.75]
    """
    return special.softmax(np.asarray(logprobs, dtype=np.float64))


TIE_TOLERANCE = 1e-12
"""Choice probabilities this close to the largest count as tied for it (broken at random, per item)."""


def tied_best(probs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Indices of the options whose probability is within ``TIE_TOLERANCE`` of the largest."""
    probs = np.asarray(probs, dtype=np.float64)
    return np.flatnonzero(probs >= probs.max() - TIE_TOLERANCE)


def argmax_choices(probs: Sequence[np.ndarray], item_ids: Sequence[str], *, seed: int) -> np.ndarray:
    """Index of the most probable option per item; exact ties broken at random, reproducibly per item.

    Ties matter only for rules (the uniform random agent ties on every item); the tie-break draws from a
    generator seeded by (seed, item id), so it does not depend on which other items are scored.

    Args:
        probs: Option probabilities per item.
        item_ids: Item ids, for the per-item seeds.
        seed: The configuration's seed.

    Returns:
        int64 array; -1 where the probabilities are NaN (parse failures).
    """
    out = np.full(len(probs), -1, dtype=np.int64)
    for i, (p, item_id) in enumerate(zip(probs, item_ids, strict=True)):
        p = np.asarray(p, dtype=np.float64)
        if np.any(np.isnan(p)):
            continue
        best = tied_best(p)
        if best.size == 1:
            out[i] = best[0]
        else:
            rng = np.random.default_rng(derive_seed(seed, "evaluate", "ties", item_id))
            out[i] = best[rng.integers(best.size)]
    return out


def _call_with_progress(method: Any, *args: Any, **kwargs: Any) -> Any:
    # The agent draws its own progress bar when it can; pass the flag only if the method takes it.
    try:
        if "progress" in inspect.signature(method).parameters:
            kwargs["progress"] = True
    except (TypeError, ValueError):
        pass
    return method(*args, **kwargs)


class AgentScorer:
    """Scores battery items with a language-model agent, through a score cache.

    ``mode="logprob"`` scores each option's decision line ``decision_line(label)`` as a continuation of the prompt
    and takes the softmax over options; an item whose log-probabilities hold a NaN is unscorable (counted, all NaN
    probabilities, never softmaxed). ``mode="reasoning"`` generates a reply, parses it strictly with
    ``parse_decision`` and puts probability one on the parsed option; a reply that does not parse is a parse
    failure (NaN probabilities), never mapped to an action. ``mode="sampled"`` (hosted models without
    log-probabilities) calls ``agent.sample_choices``: the probabilities are the choice frequencies among the sampled
    replies that parse, and the share that does not is the item's reply failure rate; an item none of whose replies
    parse is a parse failure. All uncached prompts go to the agent in one call; sampled mode bypasses the score cache
    (the hosted backend caches every response itself).

    Args:
        agent: An object with ``choice_logprobs(prompts, options)`` and ``generate(prompts, *, max_new_tokens,
            temperature, seed)`` (``econalign.model.agent.Agent``), and for sampled mode ``sample_choices(prompts,
            labels)`` (``econalign.serve.OpenAIChatAgent``).
        name: The agent's name in outputs.
        cache: The score cache for this agent's weights.
        mode: ``"logprob"``, ``"reasoning"`` or ``"sampled"``.
        max_new_tokens: Generation budget in reasoning mode.
        temperature: Sampling temperature in reasoning mode (0 is greedy).
        seed: Generation seed; sampled replies (temperature > 0) use one seed per item, derived from it and the
            item's id (:meth:`reply_seeds`).
        reasoning_first: Where the parser expects the decision line (None: first or last line).
    """

    def __init__(
        self,
        agent: Any,
        *,
        name: str,
        cache: ScoreCache,
        mode: str = "logprob",
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        reasoning_first: bool | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.agent = agent
        self.name = name
        self.cache = cache
        self.mode = mode
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.reasoning_first = reasoning_first

    def _settings(self) -> dict[str, Any]:
        if self.mode == "logprob":
            return {"mode": "logprob"}
        settings: dict[str, Any] = {
            "mode": "reasoning",
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        if self.temperature > 0:
            # Sampled replies were once seeded by their place in the call; this keeps such cache entries unused.
            settings["seeding"] = "per_item"
        return settings

    def reply_seeds(self, item_ids: Sequence[str]) -> list[int]:
        """The generation seed of each item: derived from the configured seed and the item's id.

        A sampled reply then does not depend on which other items are generated in the same call, so a run that
        finds part of the battery in the score cache writes the same replies as one that finds none.
        """
        return [derive_seed(self.seed, "evaluate", "reply", item_id) for item_id in item_ids]

    def score(self, battery: pl.DataFrame) -> Scores:
        """Score every item (cached items are not scored again); see the class docstring."""
        ids = battery["id"].to_list()
        prompts = [json.loads(text) for text in battery["messages"]]
        labels = battery["labels"].to_list()
        if self.mode == "sampled":
            return self._sample(prompts, labels)
        continuations = [[decision_line(label) for label in item_labels] for item_labels in labels]
        settings = self._settings()
        hashes = [prompt_hash(p, c, **settings) for p, c in zip(prompts, continuations, strict=True)]
        entries = [self.cache.get(i, h) for i, h in zip(ids, hashes, strict=True)]
        missing = [k for k, entry in enumerate(entries) if entry is None]
        log.info(
            "%s: %d items, %d cached, %d to score (%s)",
            self.name,
            len(ids),
            len(ids) - len(missing),
            len(missing),
            self.mode,
        )
        if missing:
            if self.mode == "logprob":
                results = _call_with_progress(
                    self.agent.choice_logprobs, [prompts[k] for k in missing], [continuations[k] for k in missing]
                )
                for k, values in zip(missing, results, strict=True):
                    self.cache.put(ids[k], hashes[k], logprobs=np.asarray(values, dtype=np.float64))
            else:
                replies = _call_with_progress(
                    self.agent.generate,
                    [prompts[k] for k in missing],
                    max_new_tokens=self.max_new_tokens,
                    temperature=self.temperature,
                    # Greedy replies ignore the seed; one seed keeps a hosted model's cached requests valid.
                    seed=self.reply_seeds([ids[k] for k in missing]) if self.temperature > 0 else self.seed,
                )
                for k, reply in zip(missing, replies, strict=True):
                    self.cache.put(ids[k], hashes[k], response=str(reply))
            self.cache.save()
            entries = [self.cache.get(i, h) for i, h in zip(ids, hashes, strict=True)]
        if self.mode == "logprob":
            logprobs = [np.asarray(entry["logprobs"], dtype=np.float64) for entry in entries]
            unscorable = np.array([bool(np.isnan(v).any()) for v in logprobs], dtype=bool)
            if unscorable.any():
                log.warning(
                    "%s: %d of %d items unscorable (NaN log-probabilities)", self.name, unscorable.sum(), len(ids)
                )
            probs = [
                np.full(v.shape, np.nan) if bad else softmax_options(v)
                for v, bad in zip(logprobs, unscorable, strict=True)
            ]
            return Scores(
                probs=probs,
                logprobs=logprobs,
                responses=[None] * len(ids),
                parse_failed=np.zeros(len(ids), dtype=bool),
                unscorable=unscorable,
            )
        probs, responses, failed = [], [], []
        for entry, item_labels in zip(entries, labels, strict=True):
            choice = parse_choice(entry["response"], item_labels, reasoning_first=self.reasoning_first)
            p = np.full(len(item_labels), np.nan)
            if choice is not None:
                p = np.zeros(len(item_labels))
                p[choice] = 1.0
            probs.append(p)
            responses.append(entry["response"])
            failed.append(choice is None)
        return Scores(probs, [None] * len(ids), responses, np.asarray(failed, dtype=bool))

    def _sample(self, prompts: list[Any], labels: list[list[str]]) -> Scores:
        log.info("%s: %d items to sample (sampled)", self.name, len(prompts))
        results = self.agent.sample_choices(prompts, labels) if prompts else []
        n_samples = np.array([result.n_samples for result in results], dtype=np.int64)
        failure = np.array([result.parse_failure_rate for result in results], dtype=np.float64)
        return Scores(
            probs=[np.asarray(result.frequencies, dtype=np.float64) for result in results],
            logprobs=[None] * len(prompts),
            responses=[None] * len(prompts),
            parse_failed=np.array([result.n_parsed == 0 for result in results], dtype=bool),
            n_samples=n_samples,
            reply_failure=failure,
        )
