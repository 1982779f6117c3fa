"""The Agent: a prepared model directory (plus an optional LoRA adapter) that scores options and generates.

``load_agent(model_dir, adapter=None)`` gives an :class:`Agent` with

* ``choice_logprobs(prompts, options)``: the summed log-probability of each option's tokens after each
  prompt (the contract of ``docs/architecture.md``), computed by :mod:`econalign.model.scoring` with option
  trees, shared-prefix KV reuse and bucketed shapes;
* ``generate(prompts, *, max_new_tokens, temperature=0.0, seed=0)``: batched, KV-cached decoding that stops at
  the end-of-turn token (:mod:`econalign.model.generate`);
* ``tokenizer``, ``config``, ``model`` and ``model_sha256`` (from ``provenance.json``, else hashed).

Example:
    >>> agent = load_agent("results/prepare_model/base")  # doctest: +SKIP
    >>> agent.choice_logprobs([{"role": "user", "content": "A or B?"}], ["A", "B"])  # doctest: +SKIP
    array([-0.41, -1.09])
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from econalign.model.buckets import Buckets
from econalign.model.identity import model_fingerprint, weights_sha256
from econalign.model.llama import Llama, LlamaConfig
from econalign.model.tokenizer import (
    Prompt,
    encode_continuations,
    encode_prompts,
    end_of_turn_id,
    is_prompt,
    load_tokenizer,
)

# Below this many prompts a progress bar is noise.
_PROGRESS_MIN_PROMPTS = 64


@dataclasses.dataclass
class Agent:
    """A language model with its tokenizer, ready to score and generate.

    Attributes:
        model: The Flax NNX model (mutable: a trainer may update its weights in place).
        tokenizer: The transformers tokenizer with the chat template.
        config: The model config.
        model_sha256: sha256 of the weights the model was loaded from (the number reported next to results).
        fingerprint: sha256 over those weights and the config, tokenizer and chat template
            (``econalign.model.identity.model_fingerprint``): the key of anything cached per model.
        stop_ids: Token ids that end a generated reply (eos and, for chat models, end-of-turn).
        buckets: Shape policy of scoring; generation uses the same ladder with half the batch.
        progress: Show tqdm progress bars for long calls.
    """

    model: Llama
    tokenizer: Any
    config: LlamaConfig
    model_sha256: str | None = None
    fingerprint: str | None = None
    stop_ids: tuple[int, ...] = ()
    buckets: Buckets = dataclasses.field(default_factory=Buckets)
    progress: bool = True

    def choice_logprobs(
        self,
        prompts: Prompt | Sequence[Prompt],
        options: Sequence[str] | Sequence[Sequence[str]],
        *,
        prefix_cache: bool = True,
    ) -> np.ndarray | list[np.ndarray]:
        """Summed log-probability of each option's tokens given each prompt.

        Args:
            prompts: One prompt or a list. A prompt is a list of chat messages (``{"role", "content"}``,
                templated with the generation prompt added) or a raw string used as is.
            options: Continuation strings shared by every prompt, or one list of strings per prompt. Each is
                tokenized on its own (no special tokens).
            prefix_cache: Reuse keys and values of shared prompt prefixes (same result, faster).

        Returns:
            For one prompt, a float64 array ``[n_options]``; for a list, a list of such arrays.
        """
        from econalign.model.scoring import score_continuations

        single = is_prompt(prompts)
        prompt_list = [prompts] if single else list(prompts)
        if isinstance(options, str):
            raise TypeError("options must be a list of strings (or of lists of strings), not a string")
        per_prompt = len(options) > 0 and not isinstance(options[0], str)
        option_lists = [list(o) for o in options] if per_prompt else [list(options)] * len(prompt_list)
        if len(option_lists) != len(prompt_list):
            raise ValueError(f"{len(prompt_list)} prompts but {len(option_lists)} option lists")
        if not prompt_list:
            return []
        prompt_ids = encode_prompts(self.tokenizer, prompt_list)
        vocabulary = sorted({text for opts in option_lists for text in opts})
        ids = dict(zip(vocabulary, encode_continuations(self.tokenizer, vocabulary), strict=True))
        option_ids = [[ids[text] for text in opts] for opts in option_lists]
        self._warn_past_context(
            max(len(p) + max((len(o) for o in opts), default=0) for p, opts in zip(prompt_ids, option_ids, strict=True))
        )
        with self._progress(len(prompt_list), "scoring") as bar:
            scores = score_continuations(
                self.model, prompt_ids, option_ids, buckets=self.buckets, prefix_cache=prefix_cache, progress=bar
            )
        return scores[0] if single else scores

    def generate(
        self,
        prompts: Prompt | Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int | Sequence[int] = 0,
    ) -> str | list[str]:
        """Generate a reply to each prompt.

        Args:
            prompts: One prompt or a list (chat messages or raw strings, as in :meth:`choice_logprobs`).
            max_new_tokens: Most tokens per reply.
            temperature: 0 for greedy decoding, else the sampling temperature.
            seed: One sampling seed for the call (prompt ``i`` uses key ``fold_in(key(seed), i)``), or one seed per
                prompt (prompt ``i`` gets the reply of a call holding it alone with seed ``seed[i]``).

        Returns:
            For one prompt its reply; for a list, a list of replies (special tokens removed).
        """
        from econalign.model.generate import generate_tokens

        single = is_prompt(prompts)
        prompt_list = [prompts] if single else list(prompts)
        prompt_ids = encode_prompts(self.tokenizer, prompt_list)
        if prompt_ids:
            self._warn_past_context(max(len(p) for p in prompt_ids) + max_new_tokens)
        buckets = dataclasses.replace(
            self.buckets,
            batch_size=max(1, self.buckets.batch_size // 2),
            small_batches=tuple(s for s in self.buckets.small_batches if s < self.buckets.batch_size // 2),
        )
        with self._progress(len(prompt_list), "generating") as bar:
            tokens = generate_tokens(
                self.model,
                prompt_ids,
                max_new_tokens=max_new_tokens,
                stop_ids=self.stop_ids,
                temperature=temperature,
                seed=seed,
                buckets=buckets,
                progress=bar,
            )
        replies = [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in tokens]
        return replies[0] if single else replies

    def _warn_past_context(self, length: int) -> None:
        # RoPE runs past the trained context without error, so nothing else would tell that positions there were
        # never trained.
        limit = self.config.max_position_embeddings
        if length > limit:
            warnings.warn(
                f"a sequence of {length} tokens exceeds the model's context of {limit} (max_position_embeddings): "
                "positions beyond it were never trained, so its scores and replies are unreliable",
                RuntimeWarning,
                stacklevel=3,
            )

    def _progress(self, total: int, desc: str) -> Any:
        from tqdm.auto import tqdm

        enabled = self.progress and total >= _PROGRESS_MIN_PROMPTS
        return _Bar(tqdm(total=total, desc=desc, unit="prompt", disable=not enabled, leave=False))


class _Bar:
    """A tqdm bar usable as a context manager and as the ``progress(n)`` callback."""

    def __init__(self, bar: Any):
        self.bar = bar

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def __call__(self, n: int) -> None:
        self.bar.update(n)


def load_agent(
    model_dir: str | os.PathLike[str],
    adapter: str | os.PathLike[str] | None = None,
    *,
    dtype: str = "float32",
    buckets: Buckets | None = None,
    progress: bool = True,
) -> Agent:
    """Load a prepared model directory (and optionally a PEFT LoRA adapter) as an :class:`Agent`.

    Args:
        model_dir: HF-layout directory from ``econalign prepare-model``.
        adapter: A PEFT adapter directory from fine-tuning, applied with ``econalign.model.lora``.
        dtype: ``"float32"`` (default), ``"bfloat16"`` or ``"bfloat16-mixed"`` (as the config's ``model.dtype``).
        buckets: Shape policy (default :class:`~econalign.model.buckets.Buckets`).
        progress: Show progress bars for long calls.

    Returns:
        The agent.
    """
    from econalign.model.params import load_llama
    from econalign.model.runtime import enable_compilation_cache

    enable_compilation_cache()
    model_dir = Path(model_dir)
    model = load_llama(model_dir, dtype=dtype)
    if adapter is not None:
        from econalign.model.lora import load_peft_adapter

        model = load_peft_adapter(model, adapter) or model
    tokenizer = load_tokenizer(model_dir)
    return Agent(
        model=model,
        tokenizer=tokenizer,
        config=model.config,
        model_sha256=weights_sha256(model_dir),
        fingerprint=model_fingerprint(model_dir),
        stop_ids=_stop_ids(model_dir, tokenizer),
        buckets=buckets or Buckets(),
        progress=progress,
    )


def _stop_ids(model_dir: Path, tokenizer: Any) -> tuple[int, ...]:
    ids: set[int] = set()
    for name in ("generation_config.json", "config.json"):
        path = model_dir / name
        if path.is_file():
            eos = json.loads(path.read_text()).get("eos_token_id")
            ids.update([eos] if isinstance(eos, int) else eos or [])
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    # Chat templates end a turn with their own token, which base configs do not always list as eos; training
    # appends the same token to every answer. The common turn-end tokens stop generation too, whatever the template.
    ids.add(end_of_turn_id(tokenizer))
    for token in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            ids.add(token_id)
    return tuple(sorted(ids))
