"""Model identity: the weights' hash reported beside results, and the fingerprint that keys caches."""

from __future__ import annotations

import json
import shutil

from conftest import tiny_dir

from econalign.io import sha256_file
from econalign.model.identity import model_fingerprint, weights_sha256
from econalign.model.prepare import prepare_model


def test_weights_hash_comes_from_provenance_else_from_the_file(tmp_path):
    prepared = prepare_model(str(tiny_dir("llama")), tmp_path / "prepared")
    assert weights_sha256(prepared) == sha256_file(prepared / "model.safetensors")
    # The recorded value is the one reported (a sharded checkpoint's combined hash is not any file's).
    record = json.loads((prepared / "provenance.json").read_text())
    (prepared / "provenance.json").write_text(json.dumps({**record, "model_sha256": "ab" * 32}))
    assert weights_sha256(prepared) == "ab" * 32
    bare = shutil.copytree(tiny_dir("llama"), tmp_path / "bare")
    assert weights_sha256(bare) == sha256_file(bare / "model.safetensors")
    (bare / "model.safetensors").unlink()
    assert weights_sha256(bare) is None and model_fingerprint(bare) is None


def test_fingerprint_changes_with_the_chat_template_but_the_weights_hash_does_not(tmp_path):
    model = prepare_model(str(tiny_dir("llama")), tmp_path / "model")
    weights, fingerprint = weights_sha256(model), model_fingerprint(model)
    assert fingerprint == model_fingerprint(prepare_model(str(tiny_dir("llama")), tmp_path / "again"))
    tokenizer_config = json.loads((model / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = "{{ messages[0]['content'] }}"
    (model / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    assert weights_sha256(model) == weights
    assert model_fingerprint(model) != fingerprint


def test_fingerprint_covers_the_architecture_config(tmp_path):
    model = prepare_model(str(tiny_dir("llama")), tmp_path / "model")
    fingerprint = model_fingerprint(model)
    config = json.loads((model / "config.json").read_text())
    config["rope_theta"] = 2 * config.get("rope_theta", 10000.0)
    (model / "config.json").write_text(json.dumps(config))
    assert model_fingerprint(model) != fingerprint


def test_a_loaded_agent_carries_both_hashes(tmp_path):
    from econalign.model.agent import load_agent

    model = prepare_model(str(tiny_dir("llama")), tmp_path / "model")
    agent = load_agent(model, progress=False)
    assert (agent.model_sha256, agent.fingerprint) == (weights_sha256(model), model_fingerprint(model))
