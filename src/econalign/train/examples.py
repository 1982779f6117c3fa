"""From dataset rows (``results/synthesize/{agent}/{split}.parquet``) to tokenised :class:`Example` objects.

A row's ``messages`` are rendered with the model's chat template (generation prompt added) and its
``target`` is the assistant's answer, followed by the end-of-turn token. The loss covers the answer only;
the tokens of the decision line (``econalign.data.answers.decision_line(label)``, the first line of the
target, or its last with reasoning first) get ``decision_weight``, the other answer tokens
``reasoning_weight``.

Validation rows also carry the choice: every option's decision line is tokenised; when the lines differ only
in their last token (``"... A"`` vs ``"... B"``), one forward pass over the prompt gives every option's
log-probability, and when the target starts with the optimal line that pass is the validation-loss pass
itself. Otherwise each option is scored as its own sequence (the summed log-probability of its tokens, as
:meth:`econalign.model.agent.Agent.choice_logprobs` does).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from econalign.data.answers import decision_line
from econalign.model.tokenizer import encode_continuations, encode_prompts, end_of_turn_id
from econalign.train.data import Example


@dataclasses.dataclass(frozen=True)
class ChoiceGroup:
    """How to read one validation item's choice from the evaluated rows.

    Attributes:
        row: The row whose ``option_logprobs`` hold the choice (fast path), or -1.
        option_rows: One row per option whose ``logprob_sum`` is the option's log-probability (slow path).
        answer: Index of the optimal option.
    """

    row: int
    option_rows: tuple[int, ...]
    answer: int


@dataclasses.dataclass(frozen=True)
class ValidationSet:
    """Validation rows and how to read the items' losses and choices from them.

    Attributes:
        examples: Every row to evaluate.
        loss_rows: Rows whose weighted log-probability is the validation loss (one per item).
        choices: One :class:`ChoiceGroup` per item.
        ids: Item ids, in the order of ``choices``.
    """

    examples: list[Example]
    loss_rows: list[int]
    choices: list[ChoiceGroup]
    ids: list[str]


def optimal_label(row: dict[str, Any]) -> tuple[list[str], int]:
    """Option labels of a dataset row (presentation order) and the index of the optimal one.

    Args:
        row: A dataset row (``options`` JSON list of ``{label, action}``, ``optimal_action``).

    Returns:
        ``(labels, index)``.

    Raises:
        ValueError: If no option carries the optimal action.
    """
    options = json.loads(row["options"])
    labels = [option["label"] for option in options]
    actions = [option["action"] for option in options]
    if row["optimal_action"] not in actions:
        raise ValueError(f"item {row.get('id')}: optimal action {row['optimal_action']!r} is not an option {actions}")
    return labels, actions.index(row["optimal_action"])


def _answer_weights(
    tokenizer: Any, target: str, decision: str, *, decision_weight: float, reasoning_weight: float
) -> tuple[list[int], np.ndarray]:
    encoding = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(encoding["input_ids"]), encoding["offset_mapping"]
    start = 0 if target.startswith(decision) else target.rfind(decision)
    weights = np.full(len(ids), reasoning_weight, np.float32)
    if start >= 0:
        end = start + len(decision)
        for i, (a, b) in enumerate(offsets):
            if a < end and b > start:
                weights[i] = decision_weight
    return ids, weights


def encode_rows(
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    *,
    decision_weight: float = 1.0,
    reasoning_weight: float = 1.0,
    max_target_tokens: int | None = None,
) -> list[Example]:
    """Tokenise training rows into examples (prompt, answer, end-of-turn token).

    Args:
        tokenizer: From :func:`econalign.model.tokenizer.load_tokenizer`.
        rows: Dataset rows (``messages``, ``target``, ``options``, ``optimal_action``).
        decision_weight: Loss weight of the decision line's tokens.
        reasoning_weight: Loss weight of the other answer tokens (and of the end-of-turn token).
        max_target_tokens: Keep at most this many answer tokens (the end-of-turn token is dropped when the answer
            is cut); ``None`` keeps all.

    Returns:
        One :class:`Example` per row.
    """
    end_of_turn = end_of_turn_id(tokenizer)
    prompts = encode_prompts(tokenizer, [json.loads(row["messages"]) for row in rows])
    examples = []
    for row, prompt in zip(rows, prompts, strict=True):
        labels, best = optimal_label(row)
        answer, weights = _answer_weights(
            tokenizer,
            row["target"],
            decision_line(labels[best]),
            decision_weight=decision_weight,
            reasoning_weight=reasoning_weight,
        )
        answer, weights = [*answer, end_of_turn], np.append(weights, np.float32(reasoning_weight))
        if max_target_tokens is not None and len(answer) > max_target_tokens:
            answer, weights = answer[:max_target_tokens], weights[:max_target_tokens]
        tokens = np.asarray(prompt + answer, np.int32)
        examples.append(Example(tokens=tokens, prompt_length=len(prompt), weights=weights))
    return examples


def _common_prefix(sequences: Sequence[Sequence[int]]) -> list[int]:
    prefix: list[int] = []
    for column in zip(*sequences, strict=False):
        if len(set(column)) != 1:
            break
        prefix.append(column[0])
    return prefix


def encode_validation(
    tokenizer: Any, rows: Sequence[dict[str, Any]], *, max_target_tokens: int | None = None
) -> ValidationSet:
    """Tokenise validation rows into loss rows and choice rows (every answer token weighted 1).

    Args:
        tokenizer: From :func:`econalign.model.tokenizer.load_tokenizer`.
        rows: Dataset rows.
        max_target_tokens: As in :func:`encode_rows`.

    Returns:
        A :class:`ValidationSet`.
    """
    loss_examples = encode_rows(tokenizer, rows, max_target_tokens=max_target_tokens)
    examples: list[Example] = []
    loss_rows, choices = [], []
    for row, example in zip(rows, loss_examples, strict=True):
        labels, best = optimal_label(row)
        continuations = encode_continuations(tokenizer, [decision_line(label) for label in labels])
        prefix = _common_prefix(continuations)
        single = all(len(c) == len(prefix) + 1 for c in continuations) and len({c[-1] for c in continuations}) == len(
            continuations
        )
        answer = list(example.tokens[example.prompt_length :])
        prompt = list(example.tokens[: example.prompt_length])
        if single:
            option_ids = np.asarray([c[-1] for c in continuations], np.int32)
            merged = answer[: len(prefix) + 1] == continuations[best]
            if merged:
                example = dataclasses.replace(example, choice_slot=len(prefix), option_ids=option_ids, answer=best)
            loss_rows.append(len(examples))
            examples.append(example)
            if merged:
                choices.append(ChoiceGroup(row=loss_rows[-1], option_rows=(), answer=best))
                continue
            tokens = np.asarray(prompt + continuations[best], np.int32)
            choice = Example(
                tokens=tokens,
                prompt_length=len(prompt) + len(prefix),
                weights=np.zeros(1, np.float32),
                choice_slot=0,
                option_ids=option_ids,
                answer=best,
            )
            choices.append(ChoiceGroup(row=len(examples), option_rows=(), answer=best))
            examples.append(choice)
            continue
        loss_rows.append(len(examples))
        examples.append(example)
        option_rows = []
        for continuation in continuations:
            option_rows.append(len(examples))
            tokens = np.asarray(prompt + continuation, np.int32)
            examples.append(Example(tokens=tokens, prompt_length=len(prompt), weights=np.ones(len(continuation))))
        choices.append(ChoiceGroup(row=-1, option_rows=tuple(option_rows), answer=best))
    return ValidationSet(examples=examples, loss_rows=loss_rows, choices=choices, ids=[str(r["id"]) for r in rows])


def read_split(path: Any, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Read a dataset split as a list of row dicts (file order; the first ``limit`` rows when given).

    Args:
        path: A parquet file.
        limit: Keep only the first rows.

    Returns:
        The rows.
    """
    frame = pl.read_parquet(path)
    if limit is not None:
        frame = frame.head(limit)
    return frame.to_dicts()
