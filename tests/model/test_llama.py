"""The NNX Llama family against HF transformers + torch (stored values), component by component."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_ARCHS, forward, random_model, tiny_dir
from flax import nnx

from econalign.model.llama import (
    DecodeBuffer,
    KVCache,
    Llama,
    LlamaConfig,
    RopeScaling,
    causal_mask,
    positions_from_valid,
    segment_mask,
)
from econalign.model.params import load_into, load_llama, to_hf_tensors

ATOL = RTOL = 1e-3


@pytest.fixture(scope="module")
def tiny_models() -> dict[str, Llama]:
    return {arch: load_llama(tiny_dir(arch)) for arch in TINY_ARCHS}


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_embedding_first_layer_and_final_norm_match_hf(arch, tiny_models, tiny_reference):
    ref = tiny_reference[arch]["components"]
    out = forward(tiny_models[arch], jnp.asarray([ref["token_ids"]]), output_hidden_states=True)
    for got, want in zip(
        (out.hidden_states[0], out.hidden_states[1], out.hidden_states[-1]), ref["hidden_states"], strict=True
    ):
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_logits_match_hf(arch, tiny_models, tiny_reference):
    ref = tiny_reference[arch]["components"]
    logits = forward(tiny_models[arch], jnp.asarray([ref["token_ids"]])).logits[0]
    np.testing.assert_allclose(np.asarray(logits[-4:]), np.asarray(ref["logits_tail"]), rtol=RTOL, atol=ATOL)
    last = jax.nn.log_softmax(logits[-1])
    np.testing.assert_allclose(
        np.asarray(last[jnp.asarray(ref["last_top10_ids"])]), ref["last_top10_logprobs"], atol=ATOL
    )


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_left_padded_batch_matches_hf(arch, tiny_models, tiny_reference):
    ref = tiny_reference[arch]["left_padded"]
    rows = ref["token_ids"]
    width = max(map(len, rows))
    tokens = np.array([[2] * (width - len(r)) + r for r in rows])
    valid = jnp.asarray(np.array([[False] * (width - len(r)) + [True] * len(r) for r in rows]))
    out = forward(
        tiny_models[arch],
        jnp.asarray(tokens),
        positions_from_valid(valid),
        mask=causal_mask(valid),
        logits_at=jnp.full((3, 1), width - 1),
    )
    logprobs = np.asarray(jax.nn.log_softmax(out.logits[:, 0]))
    got = np.take_along_axis(logprobs, np.asarray(ref["top_ids"]), axis=1)
    np.testing.assert_allclose(got, ref["top_logprobs"], atol=ATOL)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_option_logprobs_match_hf(arch, tiny_agents, tiny_reference):
    ref = tiny_reference[arch]["chat"]
    got = tiny_agents[arch].choice_logprobs(ref["prompts"], ref["options"])
    np.testing.assert_allclose(np.stack(got), ref["logprobs"], rtol=RTOL, atol=ATOL)


def test_from_hf_config_reads_the_tiny_checkpoints(tiny_models):
    llama, qwen2, mistral = (tiny_models[a].config for a in TINY_ARCHS)
    assert llama.rope_scaling == RopeScaling("llama3", 8.0, 1.0, 4.0, 32)
    assert not llama.tie_word_embeddings and not llama.attention_bias
    assert qwen2.attention_bias and not qwen2.output_bias and qwen2.tie_word_embeddings
    assert qwen2.rope_theta == 1e6 and qwen2.model_type == "qwen2"
    assert mistral.sliding_window == 4096 and mistral.rope_scaling is None


def test_attention_windows_follow_hf_s_layer_types():
    import json

    qwen2 = json.loads((tiny_dir("qwen2") / "config.json").read_text())
    mistral = json.loads((tiny_dir("mistral") / "config.json").read_text())
    assert qwen2["sliding_window"] is None and LlamaConfig.from_hf_config(qwen2).sliding_window is None
    assert LlamaConfig.from_hf_config({**mistral, "sliding_window": None}).sliding_window is None  # Mistral v0.2+
    layers = qwen2["num_hidden_layers"]
    windowed = {**qwen2, "sliding_window": 16, "use_sliding_window": True, "layer_types": None}
    # Qwen2 windows the layers from max_window_layers on: all of them, none of them, or a mix that is refused.
    assert LlamaConfig.from_hf_config({**windowed, "max_window_layers": 0}).sliding_window == 16
    assert LlamaConfig.from_hf_config({**windowed, "max_window_layers": layers}).sliding_window is None
    with pytest.raises(ValueError, match="per-layer attention windows"):
        LlamaConfig.from_hf_config({**windowed, "max_window_layers": 1})
    with pytest.raises(ValueError, match="per-layer attention windows"):
        LlamaConfig.from_hf_config({**mistral, "layer_types": ["full_attention", "sliding_attention"][:layers]})


# -- Mistral's sliding window: a prompt three windows long, against HF eager attention (make_reference.py) ----------


@pytest.fixture(scope="module")
def sliding_reference() -> dict:
    import json

    return json.loads((tiny_dir("mistral").parent / "reference_sliding_window.json").read_text())


def _next_token_logprobs(model, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    logits = forward(model, jnp.asarray([ids])).logits[0]
    logprobs = np.asarray(jax.nn.log_softmax(logits.astype(jnp.float32)))
    return logprobs[np.arange(len(ids) - 1), ids[1:]], np.asarray(logits)


def test_the_sliding_window_reference_exercises_the_window(sliding_reference):
    """HF's windowed and full-attention values agree on the first ``window`` positions and only there: the case can
    tell a windowed model from one that attends to everything."""
    window, ids = sliding_reference["sliding_window"], sliding_reference["token_ids"]
    assert window == 8 and len(ids) > 3 * window
    windowed = np.asarray(sliding_reference["windowed"]["next_token_logprobs"])
    full = np.asarray(sliding_reference["full"]["next_token_logprobs"])
    np.testing.assert_allclose(windowed[:window], full[:window], atol=1e-5)
    assert np.abs(windowed[window:] - full[window:]).max() > 1.0


def test_full_attention_past_the_window_length_matches_hf(tiny_models, sliding_reference):
    """The unchanged checkpoint (window 4096) on the 26-token prompt: HF full attention, every position."""
    ids, full = sliding_reference["token_ids"], sliding_reference["full"]
    got, logits = _next_token_logprobs(tiny_models["mistral"], ids)
    np.testing.assert_allclose(got, full["next_token_logprobs"], atol=ATOL)
    np.testing.assert_allclose(logits[-4:], np.asarray(full["logits_tail"]), rtol=RTOL, atol=ATOL)


def test_a_window_mask_given_explicitly_reproduces_hf(tiny_models, sliding_reference):
    """With HF's window written as an explicit mask (key s visible from query t iff t - 8 < s <= t) the unwindowed
    model matches HF's windowed values: the reference's window is the one the config's window must reproduce."""
    ids, window = sliding_reference["token_ids"], sliding_reference["sliding_window"]
    t = np.arange(len(ids))
    mask = (t[None, :] <= t[:, None]) & (t[None, :] > t[:, None] - window)
    logits = forward(tiny_models["mistral"], jnp.asarray([ids]), mask=jnp.asarray(mask[None])).logits[0]
    logprobs = np.asarray(jax.nn.log_softmax(logits))
    windowed = sliding_reference["windowed"]
    np.testing.assert_allclose(logprobs[t[:-1], ids[1:]], windowed["next_token_logprobs"], atol=ATOL)
    np.testing.assert_allclose(np.asarray(logits[-4:]), np.asarray(windowed["logits_tail"]), rtol=RTOL, atol=ATOL)


def test_sliding_window_matches_hf_past_the_window(tmp_path, sliding_reference):
    """tiny-mistral with ``sliding_window`` 8 in config.json: query t sees keys t-7..t, as HF's mask does."""
    import json
    import shutil

    source = tiny_dir("mistral")
    shutil.copytree(source, tmp_path / "windowed")
    config = json.loads((source / "config.json").read_text())
    config["sliding_window"] = sliding_reference["sliding_window"]
    (tmp_path / "windowed" / "config.json").write_text(json.dumps(config))
    model = load_llama(tmp_path / "windowed")
    assert model.config.sliding_window == 8
    windowed = sliding_reference["windowed"]
    got, logits = _next_token_logprobs(model, sliding_reference["token_ids"])
    np.testing.assert_allclose(got, windowed["next_token_logprobs"], atol=ATOL)
    np.testing.assert_allclose(logits[-4:], np.asarray(windowed["logits_tail"]), rtol=RTOL, atol=ATOL)
    last = jax.nn.log_softmax(jnp.asarray(logits[-1]))
    np.testing.assert_allclose(
        np.asarray(last[jnp.asarray(windowed["last_top10_ids"])]), windowed["last_top10_logprobs"], atol=ATOL
    )


def test_from_hf_config_accepts_transformers_v4_rope_spelling():
    v4 = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "vocab_size": 10,
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_attention_heads": 2,
        "rope_theta": 500000.0,
        "rope_scaling": {"type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192},
        "attention_bias": True,
    }  # fmt: skip
    config = LlamaConfig.from_hf_config(v4)
    assert config.rope_theta == 500000.0 and config.rope_scaling.factor == 32.0
    assert config.num_kv_heads == 2 and config.head_dim == 4
    assert config.attention_bias and config.output_bias  # Llama's attention_bias covers o_proj too


@pytest.mark.parametrize(
    ("change", "message"),
    [({"model_type": "gemma"}, "model_type"), ({"hidden_act": "gelu"}, "hidden_act"),
     ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "yarn")],
)  # fmt: skip
def test_from_hf_config_rejects_what_the_model_cannot_run(change, message):
    base = {"model_type": "llama", "num_hidden_layers": 1, "vocab_size": 10, "hidden_size": 8,
            "intermediate_size": 16, "num_attention_heads": 2}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        LlamaConfig.from_hf_config({**base, **change})


def _expected_params(c: LlamaConfig) -> int:
    # Closed form, independent of the module code: attention, MLP, two norms per block, embeddings, final norm.
    attn = c.hidden_size * c.head_dim * (2 * c.num_heads + 2 * c.num_kv_heads)
    attn += c.head_dim * (c.num_heads + 2 * c.num_kv_heads) if c.attention_bias else 0
    block = attn + 3 * c.hidden_size * c.intermediate_size + 2 * c.hidden_size
    head = 0 if c.tie_word_embeddings else c.vocab_size * c.hidden_size
    return c.num_layers * block + c.vocab_size * c.hidden_size + c.hidden_size + head


@pytest.mark.parametrize("preset", ["smollm2_135m", "smollm2_360m", "smollm2_1_7b", "qwen2_5_0_5b", "llama3_2_1b"])
def test_every_preset_builds_with_the_expected_parameter_count(preset):
    config = getattr(LlamaConfig, preset)()
    abstract = nnx.eval_shape(lambda: Llama(config, rngs=nnx.Rngs(0)))
    count = sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
    assert count == _expected_params(config)


def test_smollm2_135m_preset_has_the_published_size():
    assert _expected_params(LlamaConfig.smollm2_135m()) == 134_515_008


def _random_model(**overrides) -> Llama:
    return random_model(LlamaConfig(2, 50, 32, 64, 4, 2, 8, **overrides))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16-mixed"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("split", [6, 9])  # several new tokens after the cache, and one
def test_cached_prefix_continues_exactly(shared, split, dtype):
    model = _random_model(attention_bias=True, dtype=dtype)
    tokens = jax.random.randint(jax.random.key(1), (3, 10), 0, 50)
    full = forward(model, tokens).logits
    prefix_tokens = tokens[:1, :split] if shared else tokens[:, :split]
    if shared:  # one prefix for every row, broadcast over the batch
        tokens = tokens.at[:, :split].set(tokens[0, :split])
        full = forward(model, tokens).logits
    prefix = forward(model, prefix_tokens).kv
    assert isinstance(prefix, KVCache) and prefix.k.shape == (2, prefix_tokens.shape[0], 2, split, 8)
    rest = forward(model, tokens[:, split:], cache=prefix).logits
    np.testing.assert_allclose(np.asarray(rest), np.asarray(full[:, split:]), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16-mixed"])
def test_decode_buffer_written_in_place_continues_exactly(dtype):
    model = _random_model(attention_bias=True, dtype=dtype)
    tokens = jax.random.randint(jax.random.key(5), (3, 10), 0, 50)
    full = forward(model, tokens).logits
    prefix = forward(model, tokens[:, :6]).kv
    pad = [(0, 0), (0, 0), (0, 6), (0, 0)]  # 12 slots: two stay empty
    buffer = DecodeBuffer(*(tuple(jnp.pad(layer, pad) for layer in part) for part in prefix))
    for slot in range(6, 10):
        visible = jnp.broadcast_to(jnp.arange(12) <= slot, (3, 1, 12))
        position = jnp.full((3, 1), slot, jnp.int32)
        out = model(tokens[:, slot : slot + 1], position, mask=visible, cache=buffer, write_at=jnp.int32(slot))
        np.testing.assert_allclose(np.asarray(out.logits[:, 0]), np.asarray(full[:, slot]), atol=1e-5)
        buffer = out.kv
        assert isinstance(buffer, DecodeBuffer) and buffer.k[0].shape == (3, 2, 12, 8)
    with pytest.raises(ValueError, match="write_at needs"):
        model(tokens[:, :1], mask=visible, cache=prefix, write_at=jnp.int32(0))


def test_packed_segments_equal_separate_sequences():
    model = _random_model()
    a = jax.random.randint(jax.random.key(2), (1, 5), 0, 50)
    b = jax.random.randint(jax.random.key(3), (1, 4), 0, 50)
    packed = jnp.concatenate([a, b, jnp.zeros((1, 2), jnp.int32)], axis=1)
    segments = jnp.asarray([[1] * 5 + [2] * 4 + [0] * 2])
    positions = jnp.asarray([list(range(5)) + list(range(4)) + [0, 0]])
    out = forward(model, packed, positions, mask=segment_mask(segments)).logits
    np.testing.assert_allclose(np.asarray(out[:, :5]), np.asarray(forward(model, a).logits), atol=1e-5)
    np.testing.assert_allclose(np.asarray(out[:, 5:9]), np.asarray(forward(model, b).logits), atol=1e-5)


def test_logits_at_selects_positions_and_bfloat16_stays_close():
    model = _random_model(tie_word_embeddings=True)
    tokens = jax.random.randint(jax.random.key(4), (2, 7), 0, 50)
    full = forward(model, tokens).logits
    picked = forward(model, tokens, logits_at=jnp.asarray([[6, 0], [3, 3]])).logits
    np.testing.assert_allclose(np.asarray(picked[0]), np.asarray(full[0, jnp.asarray([6, 0])]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(picked[1]), np.asarray(full[1, jnp.asarray([3, 3])]), atol=1e-5)
    half = load_into(dataclasses.replace(model.config, dtype="bfloat16"), to_hf_tensors(model))
    assert half.embed_tokens.embedding[...].dtype == jnp.bfloat16
    error = np.abs(np.asarray(forward(half, tokens).logits) - np.asarray(full)).max()
    assert error < 0.05 * np.abs(np.asarray(full)).max()  # bfloat16 keeps ~3 significant digits


def test_logits_at_prunes_the_last_block_but_keeps_every_key_and_value():
    model = _random_model()
    tokens = jax.random.randint(jax.random.key(5), (2, 9), 0, 50)
    prefix = forward(model, tokens[:, :4])
    full = forward(model, tokens[:, 4:], cache=prefix.kv)
    at = jnp.asarray([[4, 1], [0, 2]])
    picked = forward(model, tokens[:, 4:], cache=prefix.kv, logits_at=at)
    for row in range(2):
        np.testing.assert_allclose(np.asarray(picked.logits[row]), np.asarray(full.logits[row, at[row]]), atol=1e-5)
    for part in range(2):  # the last block's keys and values still cover every position
        np.testing.assert_allclose(np.asarray(picked.kv[part]), np.asarray(full.kv[part]), atol=1e-6)


def test_mask_of_the_wrong_shape_is_rejected():
    model = _random_model()
    with pytest.raises(ValueError, match="mask has shape"):
        model(jnp.zeros((1, 4), jnp.int32), mask=jnp.ones((1, 4, 5), bool))
