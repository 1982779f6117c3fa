"""The Agent contract (docs/architecture.md) on tiny checkpoints; parity of the embedded model (slow)."""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import forward, tiny_dir

from econalign.io import sha256_file
from econalign.model import scoring
from econalign.model.llama import causal_mask, positions_from_valid
from econalign.model.tokenizer import encode_prompts

SYSTEM = (
    "You are a player in a two-player game. Each player picks one of two options at the same time. "
    "Points are paid as described. Reply with the letter of your choice."
)


def game(t, r, p, s):
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"If both pick A, each gets {r}. If both pick B, each gets {p}. "
                                    f"A against B gives {s} and {t}. Your choice?"},
    ]  # fmt: skip


def test_choice_logprobs_shapes_follow_the_contract(tiny_agents):
    agent = tiny_agents["llama"]
    one = agent.choice_logprobs(game(5, 3, 1, 0), ["A", "B", "Answer: A"])
    assert isinstance(one, np.ndarray) and one.shape == (3,) and one.dtype == np.float64
    many = agent.choice_logprobs([game(5, 3, 1, 0), "raw prompt: "], [["A", "B"], ["yes", "no", "maybe"]])
    assert [m.shape for m in many] == [(2,), (3,)]
    np.testing.assert_allclose(many[0], one[:2], atol=1e-5)
    assert agent.choice_logprobs([], ["A"]) == []
    with pytest.raises(ValueError, match="option lists"):
        agent.choice_logprobs([game(5, 3, 1, 0), game(4, 3, 2, 1)], [["A"]])
    with pytest.raises(TypeError):
        agent.choice_logprobs(game(5, 3, 1, 0), "AB")


def test_prefix_caching_changes_nothing_but_the_work(tiny_agents):

    agent = tiny_agents["qwen2"]
    prompts = [game(t, 3, 1, 0) for t in range(4, 10)] + [game(5, r, 1, 0) for r in range(2, 5)]
    plan = scoring.plan_prefix_groups(encode_prompts(agent.tokenizer, prompts), agent.buckets)
    assert plan and min(prefix for _, prefix in plan) >= 64  # the system prompt is shared: the cached path runs
    cached = agent.choice_logprobs(prompts, ["A", "B", "I pick B"])
    plain = agent.choice_logprobs(prompts, ["A", "B", "I pick B"], prefix_cache=False)
    np.testing.assert_allclose(np.stack(cached), np.stack(plain), atol=1e-4)


def test_generate_returns_text_and_model_identity(tiny_agents, tmp_path):
    agent = tiny_agents["mistral"]
    replies = agent.generate([game(5, 3, 1, 0), "Hello"], max_new_tokens=5)
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)
    assert isinstance(agent.generate("Hello", max_new_tokens=3), str)
    assert agent.model_sha256 == sha256_file(tiny_dir("mistral") / "model.safetensors")
    assert agent.stop_ids == (2,)
    assert agent.config.model_type == "mistral" and agent.tokenizer.eos_token == "<|im_end|>"


@pytest.mark.slow
def test_embedded_model_reproduces_the_hf_reference(smollm2_agent, smollm2_reference):
    agent, ref = smollm2_agent, smollm2_reference
    notes = agent.choice_logprobs(ref["notes"]["text"], [" A", " B"])
    np.testing.assert_allclose(notes, [-0.7902, -2.8560], atol=1e-3)  # NOTES-embedded-model.md
    np.testing.assert_allclose(notes, [ref["notes"]["A"], ref["notes"]["B"]], atol=1e-3)
    chat = ref["chat"]
    got = agent.choice_logprobs(chat["prompts"], chat["options"])
    np.testing.assert_allclose(np.stack(got), chat["logprobs"], rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_embedded_model_components_and_left_padding_match_hf(smollm2_agent, smollm2_reference):
    model, ref = smollm2_agent.model, smollm2_reference
    comp = ref["components"]
    out = forward(model, jnp.asarray([comp["token_ids"]]), output_hidden_states=True)
    layers = (out.hidden_states[0], out.hidden_states[1], out.hidden_states[-1])
    for got, want in zip(layers, comp["hidden_states"], strict=True):
        np.testing.assert_allclose(np.asarray(got[0, :, :32]), want, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray(out.logits[0, -4:, :64]), comp["logits_tail"], rtol=1e-3, atol=1e-3)
    rows = ref["left_padded"]["token_ids"]
    width = max(map(len, rows))
    tokens = jnp.asarray([[2] * (width - len(r)) + r for r in rows])
    valid = jnp.asarray([[False] * (width - len(r)) + [True] * len(r) for r in rows])
    padded = forward(model, tokens, positions_from_valid(valid), mask=causal_mask(valid),
                     logits_at=jnp.full((len(rows), 1), width - 1))  # fmt: skip
    logprobs = np.asarray(jax.nn.log_softmax(padded.logits[:, 0]))
    got = np.take_along_axis(logprobs, np.asarray(ref["left_padded"]["top_ids"]), axis=1)
    np.testing.assert_allclose(got, ref["left_padded"]["top_logprobs"], atol=1e-3)


@pytest.mark.slow
def test_embedded_model_generates_like_hf_and_knows_paris(smollm2_agent, smollm2_reference):
    from econalign.model.generate import generate_tokens

    ref = smollm2_reference["greedy"]
    tokens = generate_tokens(
        smollm2_agent.model, [ref["prompt_ids"]], max_new_tokens=16, stop_ids=smollm2_agent.stop_ids
    )
    assert tokens == [ref["tokens"]]
    reply = smollm2_agent.generate([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=16)
    assert "Paris" in reply


@pytest.mark.slow
def test_embedded_model_prefix_caching_matches_plain_scoring(smollm2_agent):
    prompts = [game(t, 3, 1, 0) for t in (4, 5, 7)] + [game(6, r, 2, 1) for r in (3, 4)]
    cached = smollm2_agent.choice_logprobs(prompts, ["A", "B"])
    plain = smollm2_agent.choice_logprobs(prompts, ["A", "B"], prefix_cache=False)
    np.testing.assert_allclose(np.stack(cached), np.stack(plain), atol=2e-4)


def test_sampled_reasoning_replies_do_not_depend_on_what_the_cache_holds(tiny_agents):
    """A battery scored in two sittings (part first, the rest from cache) writes the replies of one sitting."""
    import json

    import polars as pl

    from econalign.evaluate.cache import ScoreCache
    from econalign.evaluate.scoring import AgentScorer

    games = [game(5, 3, 1, 0), game(6, 4, 2, 1), game(7, 3, 2, 0), game(4, 3, 1, 0), game(9, 5, 1, 0)]
    battery = pl.DataFrame(
        {"id": [f"item{k}" for k in range(5)], "messages": [json.dumps(g) for g in games], "labels": [["A", "B"]] * 5}
    )

    def scorer():
        cache = ScoreCache(None, model_sha256="tiny", adapter="none")
        return AgentScorer(
            tiny_agents["llama"], name="base", cache=cache, mode="reasoning", max_new_tokens=8, temperature=1.0, seed=3
        )

    at_once = scorer().score(battery).responses
    in_two = scorer()
    first = in_two.score(battery[[3, 1]]).responses
    assert first == [at_once[3], at_once[1]]
    assert in_two.score(battery).responses == at_once
    assert len(set(at_once)) > 1


def test_sequences_past_the_trained_context_are_flagged(tiny_agents):
    agent = tiny_agents["llama"]
    short = dataclasses.replace(agent, config=dataclasses.replace(agent.config, max_position_embeddings=16))
    prompt = [{"role": "user", "content": "Pick A or B, please."}]
    with pytest.warns(RuntimeWarning, match=r"exceeds the model's context of 16 \(max_position_embeddings\)"):
        short.choice_logprobs(prompt, ["A", "B"])
    with pytest.warns(RuntimeWarning, match="exceeds the model's context of 16"):
        short.generate(prompt, max_new_tokens=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent.choice_logprobs(prompt, ["A", "B"])  # within the context: silent


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_generate_text_is_hf_greedy_decoding_end_to_end(arch, tiny_agents, tiny_reference):
    # The prompt as text, tokenised by the agent, decoded greedily and detokenised, against HF's generate() tokens.
    agent, ref = tiny_agents[arch], tiny_reference[arch]["greedy"]
    prompt = agent.tokenizer.decode(ref["prompt_ids"])
    assert list(encode_prompts(agent.tokenizer, [prompt])[0]) == ref["prompt_ids"]  # the text round-trips
    expected = agent.tokenizer.decode(ref["tokens"], skip_special_tokens=True)
    assert agent.generate(prompt, max_new_tokens=12) == expected
