"""Checkpoint loading: key map, layouts, sharded files, dtype, one aggregated error."""

from __future__ import annotations

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_model, tiny_dir
from flax import nnx
from safetensors.numpy import load_file, save_file

from econalign.model.llama import LlamaConfig
from econalign.model.params import CheckpointError, Transform, load_into, load_llama, map_key, to_hf_tensors

CONFIG = LlamaConfig(2, 40, 16, 32, 4, 2, 4, attention_bias=True)


def _params(model) -> dict[str, np.ndarray]:
    return {".".join(map(str, p)): np.asarray(v.get_value()) for p, v in nnx.to_flat_state(nnx.state(model))}


def test_key_map_routes_hf_names():
    assert map_key("model.layers.11.self_attn.k_proj.weight") == (
        "layers.11.self_attn.k_proj.kernel",
        Transform.TRANSPOSE,
    )
    assert map_key("model.layers.0.self_attn.q_proj.bias") == ("layers.0.self_attn.q_proj.bias", Transform.NONE)
    assert map_key("model.layers.3.post_attention_layernorm.weight") == (
        "layers.3.post_attention_layernorm.weight",
        Transform.NONE,
    )
    assert map_key("model.embed_tokens.weight") == ("embed_tokens.embedding", Transform.NONE)
    assert map_key("model.layers.0.block_sparse_moe.gate.weight") is None


def test_hf_tensors_round_trip_and_use_hf_layouts():
    model = random_model(CONFIG)
    tensors = to_hf_tensors(model)
    assert tensors["model.layers.0.self_attn.q_proj.weight"].shape == (16, 16)  # [out, in]
    assert tensors["model.layers.1.self_attn.k_proj.weight"].shape == (8, 16)
    assert tensors["lm_head.weight"].shape == (40, 16)
    before, after = _params(model), _params(load_into(CONFIG, tensors))
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


def test_every_problem_is_reported_at_once():
    tensors = to_hf_tensors(random_model(CONFIG))
    del tensors["model.norm.weight"]
    tensors["model.layers.0.mlp.up_proj.weight"] = np.zeros((3, 3), np.float32)
    tensors["model.layers.9.mlp.up_proj.weight"] = np.zeros((32, 16), np.float32)
    tensors["vision_tower.weight"] = np.zeros(2, np.float32)
    with pytest.raises(CheckpointError) as error:
        load_into(CONFIG, tensors, source="broken")
    problems = error.value.problems
    assert len(problems) == 4, problems
    assert any("missing" in p and "norm.weight" in p for p in problems)
    assert any("up_proj" in p and "does not fit" in p for p in problems)
    assert any("layers.9" in p for p in problems) and any("vision_tower" in p for p in problems)
    assert str(error.value).startswith("broken: 4 problem(s)")


def test_tied_checkpoints_may_carry_lm_head_and_rotary_buffers():
    tied = LlamaConfig(1, 40, 16, 32, 4, 2, 4, tie_word_embeddings=True)
    tensors = to_hf_tensors(random_model(tied))
    tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].copy()
    tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = np.ones(2, np.float32)
    model = load_into(tied, tensors)
    assert not hasattr(model, "lm_head")


def test_sharded_checkpoint_and_bfloat16(tmp_path):
    source = tmp_path / "sharded"
    shutil.copytree(tiny_dir("llama"), source)
    tensors = load_file(source / "model.safetensors")
    (source / "model.safetensors").unlink()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, source / file, metadata={"format": "pt"})
    weight_map = {k: file for file, keys in shards.items() for k in keys}
    (source / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    single, sharded = _params(load_llama(tiny_dir("llama"))), _params(load_llama(source))
    for key in single:
        np.testing.assert_array_equal(single[key], sharded[key])
    half = load_llama(source, dtype="bfloat16")
    assert half.layers[0].mlp.up_proj.kernel[...].dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.asarray(half.layers[0].mlp.up_proj.kernel[...], np.float32), single["layers.0.mlp.up_proj.kernel"], rtol=1e-2
    )


def test_exported_tensors_are_c_contiguous():
    # safetensors serialises an array's memory as it lies: a transposed view would be written in the wrong layout.
    tensors = to_hf_tensors(random_model(CONFIG))
    assert all(array.flags["C_CONTIGUOUS"] for array in tensors.values())
