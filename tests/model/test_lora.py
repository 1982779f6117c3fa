from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file

from econalign.model.llama import Llama, LlamaConfig
from econalign.model.lora import (
    LoRALinear,
    apply_lora,
    load_peft_adapter,
    lora_layers,
    merge_lora,
    save_peft_adapter,
)
from econalign.model.params import load_llama

PEFT_DATA = Path(__file__).resolve().parents[1] / "train" / "data" / "peft"
REFERENCE = np.load(PEFT_DATA / "logits.npz")
TOKENS = jnp.asarray(REFERENCE["tokens"], jnp.int32)
ATOL = 1e-4


@nnx.jit
def forward(model: Llama, tokens: jax.Array) -> jax.Array:
    return model(tokens).logits


def logits(model: Llama, tokens: jax.Array = TOKENS) -> np.ndarray:
    return np.asarray(forward(model, tokens))


def small_model() -> Llama:
    return Llama(LlamaConfig(2, 48, 16, 32, 4, 2, 4, tie_word_embeddings=True), rngs=nnx.Rngs(0))


def randomize_b(model: Llama, seed: int) -> None:
    key = jax.random.key(seed)
    for _, _, module in lora_layers(model):
        key, sub = jax.random.split(key)
        module.lora_b[...] = 0.3 * jax.random.normal(sub, module.lora_b[...].shape)


def test_base_checkpoint_matches_transformers():
    # Guards the reference itself: our model on the stored base must give transformers' logits.
    np.testing.assert_allclose(logits(load_llama(PEFT_DATA / "base")), REFERENCE["base"], atol=ATOL)


@pytest.mark.parametrize("merge", [False, True])
def test_load_adapter_made_by_peft(merge):
    model = load_peft_adapter(load_llama(PEFT_DATA / "base"), PEFT_DATA / "peft_made", merge=merge)
    assert np.abs(REFERENCE["peft_made"] - REFERENCE["base"]).max() > 0.1
    np.testing.assert_allclose(logits(model), REFERENCE["peft_made"], atol=ATOL)
    assert any(True for _ in lora_layers(model)) is not merge


def test_our_export_loads_in_peft_with_the_same_logits():
    # "ours" in logits.npz was computed by HF PEFT from the adapter that make_ours.py exported.
    ours = load_peft_adapter(load_llama(PEFT_DATA / "base"), PEFT_DATA / "ours", merge=False)
    assert np.abs(REFERENCE["ours"] - REFERENCE["base"]).max() > 0.1
    np.testing.assert_allclose(logits(ours), REFERENCE["ours"], atol=ATOL)


def test_top_block_adapters_match_peft_both_ways():
    # layers_to_transform=[1]: PEFT's adapter read by us, and ours (make_ours.py) read by PEFT.
    made = load_peft_adapter(load_llama(PEFT_DATA / "base"), PEFT_DATA / "peft_top", merge=False)
    assert {index for index, _, _ in lora_layers(made)} == {1}
    np.testing.assert_allclose(logits(made), REFERENCE["peft_top"], atol=ATOL)
    assert json.loads((PEFT_DATA / "ours_top" / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    ours = load_peft_adapter(load_llama(PEFT_DATA / "base"), PEFT_DATA / "ours_top", merge=False)
    for name in ("peft_top", "ours_top"):
        assert np.abs(REFERENCE[name] - REFERENCE["base"]).max() > 0.1
    np.testing.assert_allclose(logits(ours), REFERENCE["ours_top"], atol=ATOL)


def test_export_round_trip_is_exact(tmp_path):
    model = load_peft_adapter(load_llama(PEFT_DATA / "base"), PEFT_DATA / "ours", merge=False)
    save_peft_adapter(model, tmp_path, base_model_name_or_path="base")
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == (
        PEFT_DATA / "ours" / "adapter_model.safetensors"
    ).read_bytes()
    assert json.loads((tmp_path / "adapter_config.json").read_text()) == json.loads(
        (PEFT_DATA / "ours" / "adapter_config.json").read_text()
    )
    keys = sorted(load_file(tmp_path / "adapter_model.safetensors"))
    assert "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight" in keys
    assert len(keys) == 2 * 2 * 4  # layers x factors x targets


def test_fresh_adapter_leaves_outputs_unchanged_and_state_paths_intact():
    model = small_model()
    tokens = jnp.arange(12, dtype=jnp.int32)[None] % 48
    before = logits(model, tokens)
    paths_before = {path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    apply_lora(model, rank=3, alpha=6, targets=["q_proj", "down_proj"], rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(logits(model, tokens), before)
    lora_paths = {path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.LoRAParam))}
    base_paths = {path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Not(nnx.LoRAParam)))}
    assert paths_before <= base_paths  # base checkpoints still load into a wrapped model
    assert len(lora_paths) == 2 * 2 * 2
    a = model.layers[0].self_attn.q_proj.lora_a[...]
    bound = 1 / np.sqrt(16)
    assert a.shape == (16, 3) and float(jnp.abs(a).max()) <= bound and float(jnp.abs(a).max()) > bound / 2


def test_lora_update_matches_explicit_formula():
    model = small_model()
    apply_lora(model, rank=2, alpha=5, targets=["v_proj"], rngs=nnx.Rngs(1))
    randomize_b(model, 2)
    layer = model.layers[0].self_attn.v_proj
    assert isinstance(layer, LoRALinear)
    x = np.asarray(jax.random.normal(jax.random.key(5), (3, 16)))
    w, a, b = (np.asarray(v[...], np.float64) for v in (layer.kernel, layer.lora_a, layer.lora_b))
    np.testing.assert_allclose(np.asarray(layer(jnp.asarray(x))), x @ w + 2.5 * (x @ a @ b), atol=1e-5)


def test_merge_matches_unmerged():
    model = small_model()
    apply_lora(model, rank=2, alpha=4, targets=["q_proj", "k_proj", "up_proj"], rngs=nnx.Rngs(1))
    randomize_b(model, 3)
    tokens = jnp.arange(10, dtype=jnp.int32)[None]
    expected = logits(model, tokens)
    merge_lora(model)
    assert not list(lora_layers(model))
    assert isinstance(model.layers[0].self_attn.q_proj, nnx.Linear)
    np.testing.assert_allclose(logits(model, tokens), expected, atol=1e-5)


def test_apply_lora_rejects_bad_targets_and_double_wrapping():
    model = small_model()
    with pytest.raises(ValueError, match="not projections"):
        apply_lora(model, rank=2, alpha=4, targets=["qkv"], rngs=nnx.Rngs(0))
    apply_lora(model, rank=2, alpha=4, targets=["q_proj"], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="already carries"):
        apply_lora(model, rank=2, alpha=4, targets=["q_proj"], rngs=nnx.Rngs(0))


def test_load_rejects_unsupported_and_mismatched_adapters(tmp_path):
    shutil.copytree(PEFT_DATA / "peft_made", tmp_path / "dora")
    config = json.loads((tmp_path / "dora" / "adapter_config.json").read_text())
    (tmp_path / "dora" / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(ValueError, match="use_dora"):
        load_peft_adapter(load_llama(PEFT_DATA / "base"), tmp_path / "dora")
    with pytest.raises(ValueError, match="shape"):
        load_peft_adapter(small_model(), PEFT_DATA / "peft_made")
    with pytest.raises(FileNotFoundError):
        load_peft_adapter(small_model(), tmp_path)


def test_full_weights_folder_replaces_the_weights():
    model = load_peft_adapter(small_model_like_base(), PEFT_DATA / "base")
    np.testing.assert_allclose(logits(model), REFERENCE["base"], atol=ATOL)


def test_full_weights_of_another_architecture_are_refused_naming_the_fields():
    import dataclasses

    base = small_model_like_base()
    wider = Llama(dataclasses.replace(base.config, rope_theta=2 * base.config.rope_theta), rngs=nnx.Rngs(7))
    with pytest.raises(ValueError, match=r"another architecture than the base model: rope_theta"):
        load_peft_adapter(wider, PEFT_DATA / "base")


def small_model_like_base() -> Llama:
    return Llama(load_llama(PEFT_DATA / "base").config, rngs=nnx.Rngs(7))


def test_adapters_on_a_bfloat16_base_stay_float32():
    config = LlamaConfig(2, 48, 16, 32, 4, 2, 4, tie_word_embeddings=True, dtype="bfloat16")
    model = apply_lora(Llama(config, rngs=nnx.Rngs(0)), rank=4, alpha=8, targets=["q_proj", "v_proj"], rngs=nnx.Rngs(1))
    tokens = jnp.arange(8, dtype=jnp.int32)[None] % config.vocab_size
    modules = [module for _, _, module in lora_layers(model)]
    assert modules and all(m.kernel[...].dtype == jnp.bfloat16 for m in modules)
    assert all(m.lora_a[...].dtype == m.lora_b[...].dtype == jnp.float32 for m in modules)
    # An update far below bfloat16's spacing survives in the factor itself.
    factor = modules[0].lora_a
    before = float(factor[...][0, 0])
    factor[...] = factor[...] + 1e-6
    assert float(factor[...][0, 0]) - before == pytest.approx(1e-6, rel=0.05)
    assert bool(jnp.all(jnp.isfinite(forward(model, tokens))))
    grads = nnx.grad(lambda m: forward(m, tokens).astype(jnp.float32).sum(), argnums=nnx.DiffState(0, nnx.LoRAParam))(
        model
    )
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(grads))


def test_a_peft_regex_of_targets_resolves_to_the_projections_it_names(tmp_path):
    model = small_model()
    apply_lora(model, rank=2, alpha=4, targets=["q_proj", "v_proj", "up_proj"], rngs=nnx.Rngs(1))
    randomize_b(model, 5)
    tokens = jnp.arange(10, dtype=jnp.int32)[None]
    expected = logits(model, tokens)
    save_peft_adapter(model, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    config["target_modules"] = r".*\.(self_attn\.(q|v)_proj|mlp\.up_proj)"  # PEFT matches full module names
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    loaded = load_peft_adapter(small_model(), tmp_path, merge=False)
    assert sorted(name for _, name, _ in lora_layers(loaded)) == sorted(["q_proj", "v_proj", "up_proj"] * 2)
    np.testing.assert_allclose(logits(loaded, tokens), expected, atol=1e-6)


def test_a_peft_regex_that_names_some_layers_adapts_only_those(tmp_path):
    model = small_model()
    apply_lora(model, rank=2, alpha=4, targets=["q_proj", "v_proj"], rngs=nnx.Rngs(1), layers=[1])
    randomize_b(model, 5)
    tokens = jnp.arange(10, dtype=jnp.int32)[None]
    expected = logits(model, tokens)
    save_peft_adapter(model, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    config.pop("layers_to_transform", None)
    config["target_modules"] = r"model\.layers\.1\.self_attn\.(q|v)_proj"
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    loaded = load_peft_adapter(small_model(), tmp_path, merge=False)
    assert sorted((index, name) for index, name, _ in lora_layers(loaded)) == [(1, "q_proj"), (1, "v_proj")]
    np.testing.assert_allclose(logits(loaded, tokens), expected, atol=1e-6)
    config["target_modules"] = r"model\.layers\.7\.self_attn\.q_proj"
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="matches no projection of this model"):
        load_peft_adapter(small_model(), tmp_path)
