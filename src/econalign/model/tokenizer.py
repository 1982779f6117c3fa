r"""Tokenizer and chat template of a prepared model directory.

transformers supplies the tokenizer (from ``tokenizer.json``, no network: ``local_files_only``) and the
Jinja chat template (from ``tokenizer_config.json``). A prompt is either a list of chat messages, templated
with the generation prompt added, or a raw string used as is. Continuations (the scored options) are
tokenized on their own, without special tokens, so the same option has the same tokens after every prompt;
with ChatML the prompt ends in ``"assistant\n"``, a pre-token boundary, so this equals tokenizing the joined
text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Message = Mapping[str, str]
Prompt = str | Sequence[Message]


def load_tokenizer(model_dir: str | os.PathLike[str]) -> Any:
    """Load the tokenizer of an HF-layout directory, offline.

    Args:
        model_dir: Directory with ``tokenizer.json`` and ``tokenizer_config.json``.

    Returns:
        A transformers tokenizer (``PreTrainedTokenizerBase``) whose ``pad_token_id`` is set (eos when the
        checkpoint defines none).

    Raises:
        FileNotFoundError: No ``tokenizer.json`` in ``model_dir``.
    """
    # transformers advises installing PyTorch on import; econalign uses only its tokenizers, by design. An explicit
    # TRANSFORMERS_NO_ADVISORY_WARNINGS in the environment still wins.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no tokenizer.json")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """Render a prompt to text: chat messages through the chat template (generation prompt added), strings as is.

    Args:
        tokenizer: From :func:`load_tokenizer`.
        prompt: Chat messages (``{"role", "content"}``) or a raw string.

    Returns:
        The prompt text.

    Raises:
        ValueError: Chat messages for a tokenizer without a chat template.
    """
    if isinstance(prompt, str):
        return prompt
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template; pass raw strings or add chat_template to the model")
    messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_prompts(tokenizer: Any, prompts: Sequence[Prompt]) -> list[list[int]]:
    """Token ids of each prompt (special tokens only where the template writes them).

    Args:
        tokenizer: From :func:`load_tokenizer`.
        prompts: Chat-message lists or raw strings.

    Returns:
        One id list per prompt.
    """
    texts = [render_prompt(tokenizer, prompt) for prompt in prompts]
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def encode_continuations(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of continuation strings, tokenized alone and without special tokens.

    Args:
        tokenizer: From :func:`load_tokenizer`.
        texts: The continuations (options).

    Returns:
        One id list per text.

    Raises:
        ValueError: An empty continuation (it would have no log-probability).
    """
    ids = [list(row) for row in tokenizer(list(texts), add_special_tokens=False)["input_ids"]] if texts else []
    empty = [text for text, row in zip(texts, ids, strict=True) if not row]
    if empty:
        raise ValueError(f"continuations without tokens: {empty}")
    return ids


_REPLY_PROBE = "\u2063reply"  # an invisible separator: no chat template treats it specially


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that ends an assistant's turn: what the chat template writes right after a reply.

    ``<|im_end|>`` for ChatML templates (SmolLM2, Qwen2.5), ``<|eot_id|>`` for Llama 3; a base model's eos can differ
    (``<|endoftext|>``). Training appends this token to every answer and generation stops on it, so the two agree.
    Without a chat template, or where the template writes no special token after the reply, it is the eos token.

    Args:
        tokenizer: From :func:`load_tokenizer`.

    Returns:
        A token id.
    """
    if getattr(tokenizer, "chat_template", None):
        conversation = [{"role": "user", "content": "x"}, {"role": "assistant", "content": _REPLY_PROBE}]
        try:
            text = tokenizer.apply_chat_template(conversation, tokenize=False)
        except Exception:  # a template that cannot render this conversation says nothing about turn ends
            text = ""
        after = text.split(_REPLY_PROBE, 1)[1] if _REPLY_PROBE in text else ""
        ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
        for token_id in ids:  # the first special token after the reply; whitespace may come before it
            if _is_special(tokenizer, token_id):
                return int(token_id)
            if tokenizer.decode([token_id]).strip():
                break
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has neither an eos token nor a chat template that ends a turn")
    return int(tokenizer.eos_token_id)


def _is_special(tokenizer: Any, token_id: int) -> bool:
    # all_special_ids lists only named special tokens; <|eot_id|> is special without a name in Llama 3.
    added = getattr(tokenizer, "added_tokens_decoder", {}).get(token_id)
    return token_id in tokenizer.all_special_ids or bool(added is not None and added.special)


def is_prompt(value: Any) -> bool:
    """Whether ``value`` is a single prompt (a string or a list of message dicts) rather than a list of prompts."""
    if isinstance(value, str):
        return True
    return isinstance(value, Sequence) and len(value) > 0 and all(isinstance(m, Mapping) for m in value)
