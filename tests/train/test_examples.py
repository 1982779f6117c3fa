from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from econalign.model.tokenizer import load_tokenizer
from econalign.train import examples as examples_module
from econalign.train.examples import encode_rows, encode_validation, optimal_label
from econalign.train.loop import evaluate
from econalign.train.sharding import make_mesh
from econalign.train.steps import make_eval_fn, split_model

from .tiny import make_rows, tiny_model


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([int(i) for i in ids])


def test_examples_hold_the_templated_prompt_then_the_target_and_end_of_turn(tokenizer):
    rows = make_rows(4, seed=0)
    for row, example in zip(rows, encode_rows(tokenizer, rows, decision_weight=7.0, reasoning_weight=0.5), strict=True):
        prompt = decode(tokenizer, example.tokens[: example.prompt_length])
        messages = json.loads(row["messages"])
        assert prompt == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        answer = example.tokens[example.prompt_length :]
        assert decode(tokenizer, answer) == row["target"] + "<|im_end|>"
        labels, best = optimal_label(row)
        assert decode(tokenizer, answer[example.weights == 7.0]) == f"Answer: {labels[best]}"
        assert set(example.weights[example.weights != 7.0]) == {0.5}


def test_decision_line_is_found_at_the_end_of_a_reasoning_first_target(tokenizer):
    row = make_rows(1, seed=1)[0]
    first, rest = row["target"].split("\n", 1)
    row["target"] = f"{rest}\n{first}"
    (example,) = encode_rows(tokenizer, [row], decision_weight=3.0)
    answer = example.tokens[example.prompt_length :]
    assert decode(tokenizer, answer[example.weights == 3.0]) == first
    assert example.weights[-1] == 1.0  # the end-of-turn token


def test_max_target_tokens_keeps_the_start_of_the_answer(tokenizer):
    rows = make_rows(3, seed=2)
    full = encode_rows(tokenizer, rows)
    cut = encode_rows(tokenizer, rows, max_target_tokens=9)
    for a, b in zip(full, cut, strict=True):
        assert b.answer_length == 9 and b.prompt_length == a.prompt_length
        np.testing.assert_array_equal(b.tokens, a.tokens[: a.prompt_length + 9])
        assert decode(tokenizer, b.tokens[b.prompt_length :]).startswith("Answer: ")


def reference_choice_logprobs(model, tokenizer, row) -> np.ndarray:
    """Independent: full logits over prompt + each option's decision line, summed over the line's tokens."""
    prompt = tokenizer.apply_chat_template(json.loads(row["messages"]), tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    labels, _ = optimal_label(row)
    scores = []
    for label in labels:
        line = examples_module.decision_line(label)
        continuation = tokenizer(line, add_special_tokens=False)["input_ids"]
        ids = jnp.asarray([prompt_ids + continuation], jnp.int32)
        log_probs = jax.nn.log_softmax(model(ids).logits[0].astype(jnp.float32), axis=-1)
        scores.append(sum(float(log_probs[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(continuation)))
    return np.asarray(scores)


@pytest.mark.parametrize("path", ["merged", "separate", "per_option"])
def test_validation_choices_match_an_independent_computation(tokenizer, monkeypatch, path):
    rows = make_rows(5, seed=3, split="validation")
    if path == "separate":  # targets that do not start with the decision line need their own choice rows
        for row in rows:
            row["target"] = "Because.\n" + row["target"]
    if path == "per_option":  # lines that differ in more than their last token are scored one sequence each
        monkeypatch.setattr(examples_module, "decision_line", lambda label: f"Answer: {label}{label}")
    validation = encode_validation(tokenizer, rows)
    assert all((group.row >= 0) == (path != "per_option") for group in validation.choices)
    if path == "merged":
        assert len(validation.examples) == len(rows)
    model = tiny_model(seed=4)
    graphdef, trainable, frozen = split_model(model, full=True)
    eval_fn = make_eval_fn(graphdef)
    scores, choices = evaluate(eval_fn, trainable, frozen, validation, buckets=[128], rows=4, mesh=make_mesh())
    correct, p_optimal = [], []
    for row, choice in zip(rows, choices, strict=True):
        expected = reference_choice_logprobs(model, tokenizer, row)
        ours = np.asarray(choice["option_logprobs"])
        if path == "per_option":
            np.testing.assert_allclose(ours, expected, atol=1e-4)
        else:
            # One pass reads the label token only: the shared prefix "Answer:" adds the same log-probability to
            # every option, so compare differences.
            np.testing.assert_allclose(ours - ours[0], expected - expected[0], atol=1e-4)
        _, best = optimal_label(row)
        assert choice["answer"] == best
        correct.append(int(np.argmax(choice["option_logprobs"])) == best)
        p_optimal.append(float(np.exp(expected[best] - np.logaddexp.reduce(expected))))
    assert scores["val_accuracy"] == pytest.approx(np.mean(correct))
    # The theory's option's probability among the options, from the independent scores.
    assert scores["val_p_optimal"] == pytest.approx(np.mean(p_optimal), abs=1e-4)
    assert scores["val_loss"] > 0


def test_a_mesh_the_devices_cannot_form_is_a_config_error():
    from econalign.config import ConfigError

    with pytest.raises(ConfigError, match="finetune/mesh: at most one of data and fsdp may be -1"):
        make_mesh(data=-1, fsdp=-1)
    with pytest.raises(ConfigError, match=r"finetune/mesh: data=2 x fsdp=1 does not match the 1 available"):
        make_mesh(data=2, fsdp=1, devices=jax.devices()[:1])
