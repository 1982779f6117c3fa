"""GGUF conversion: llama.cpp's q/k permutation, a GGUF written here and read back, the embedded file."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
from conftest import tiny_dir
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from econalign.io import sha256_file
from econalign.model import gguf as gguf_module
from econalign.model.gguf import read_gguf, unpermute_rotary_rows
from econalign.model.prepare import prepare_model


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp convert_hf_to_gguf.py, LlamaModel.permute: HF rows -> GGUF rows.
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


@pytest.mark.parametrize(("n_head", "head_dim"), [(9, 64), (3, 64), (4, 16), (1, 2)])
def test_unpermute_inverts_llama_cpp_permute(n_head, head_dim):
    weights = np.random.default_rng(0).standard_normal((n_head * head_dim, 5)).astype(np.float32)
    gguf_rows = llama_cpp_permute(weights, n_head)
    assert not np.array_equal(gguf_rows, weights) or head_dim == 2
    np.testing.assert_array_equal(unpermute_rotary_rows(gguf_rows, n_head), weights)


def write_tiny_gguf(path, source) -> dict[str, np.ndarray]:
    """Write the tiny mistral checkpoint (llama architecture) as llama.cpp would; embedding quantised to Q8_0."""
    config = json.loads((source / "config.json").read_text())
    tensors = load_file(source / "model.safetensors")
    tokenizer = json.loads((source / "tokenizer.json").read_text())
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab] + [f"[PAD{i}]" for i in range(len(vocab), config["vocab_size"])]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_dimension_count(config["head_dim"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t.startswith("<|") else 1 for t in tokens])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template("{{ messages[0]['content'] }}")
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}  # fmt: skip
    parts = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
             "post_attention_layernorm": "ffn_norm"}  # fmt: skip
    for name, value in tensors.items():
        if name not in names:
            layer, part = name.removeprefix("model.layers.").removesuffix(".weight").split(".", 1)
            names[name] = f"blk.{layer}.{parts[part]}.weight"
        if name.endswith("q_proj.weight"):
            value = llama_cpp_permute(value, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            value = llama_cpp_permute(value, config["num_key_value_heads"])
        if name == "model.embed_tokens.weight":
            quantised = gguf.quants.quantize(value, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(
                names[name], quantised, raw_shape=quantised.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0
            )
        else:
            writer.add_tensor(names[name], value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


def test_gguf_round_trip_restores_hf_tensors_config_and_tokenizer(tmp_path):
    source = tiny_dir("mistral")
    tensors = write_tiny_gguf(tmp_path / "tiny.gguf", source)
    model = read_gguf(tmp_path / "tiny.gguf")
    assert sorted(model.tensors) == sorted(tensors)
    for name, value in tensors.items():
        # Q8_0 keeps 8 bits per weight with one scale per 32: errors below 1% of the block maximum.
        atol = 0.01 * np.abs(value).max() if name == "model.embed_tokens.weight" else 0.0
        np.testing.assert_allclose(model.tensors[name], value, atol=atol, rtol=0)
    config = json.loads((source / "config.json").read_text())
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "head_dim", "vocab_size", "rms_norm_eps", "eos_token_id", "bos_token_id"):  # fmt: skip
        assert model.config[key] == config[key], key
    assert model.config["tie_word_embeddings"] is False
    assert model.tokenizer_config["eos_token"] == "<|im_end|>"
    original = Tokenizer.from_file(str(source / "tokenizer.json"))
    rebuilt = Tokenizer.from_str(model.tokenizer_json)
    text = "<|im_start|>user\nPay 12 or 3?<|im_end|>\n"
    assert rebuilt.encode(text).ids == original.encode(text).ids
    assert rebuilt.decode(rebuilt.encode(text).ids, skip_special_tokens=False) == text


def test_prepare_model_from_a_gguf_file_writes_a_loadable_directory(tmp_path):
    write_tiny_gguf(tmp_path / "tiny.gguf", tiny_dir("mistral"))
    out = prepare_model(str(tmp_path / "tiny.gguf"), tmp_path / "out")
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json", "provenance.json"}
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["source_sha256"] == sha256_file(tmp_path / "tiny.gguf")
    assert provenance["model_sha256"] == sha256_file(out / "model.safetensors")


def test_embedded_file_with_another_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(gguf_module, "EMBEDDED_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="expected 0000"):
        prepare_model("smollm2-135m-instruct", tmp_path)


@pytest.mark.slow
def test_embedded_tokenizer_matches_transformers_gguf_conversion(smollm2_dir):
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    # transformers' own GGUF reader imports torch; feed it the fields read by `gguf` instead.
    fields = gguf.GGUFReader(str(gguf_module.locate_embedded_gguf())).fields
    names = {"model": "tokenizer_type", "pre": "pre_tokenizer_type", "tokens": "tokens", "token_type": "token_type",
             "merges": "merges", "bos_token_id": "bos_token_id", "eos_token_id": "eos_token_id"}  # fmt: skip
    tokenizer_dict = {ours: fields[f"tokenizer.ggml.{key}"].contents() for key, ours in names.items()}
    reference = PreTrainedTokenizerFast(tokenizer_object=convert_gguf_tokenizer("llama", tokenizer_dict)[0])
    ours = Tokenizer.from_file(str(smollm2_dir / "tokenizer.json"))
    texts = ["<|im_start|>system\nYou are SmolLM.<|im_end|>\n", "Payoffs: (3, 3), (0, 5), (5, 0), (1, 1).",
             "  spaced\ttabs\n\nnewlines", "Ünïcödé — “quotes” 😀", "I'll say you've got 12.5%"]  # fmt: skip
    for text in texts:
        assert ours.encode(text).ids == reference(text, add_special_tokens=False)["input_ids"], text
