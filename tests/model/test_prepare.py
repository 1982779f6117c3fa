"""prepare_model from checkpoint directories and the local hub cache; the CLI pair."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest
from conftest import tiny_dir

from econalign.io import MissingInputError, sha256_file
from econalign.model import prepare as prepare_module
from econalign.model.prepare import prepare_model


def test_checkpoint_directory_is_copied_with_provenance(tmp_path):
    out = prepare_model(str(tiny_dir("qwen2")), tmp_path / "out")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (out / name).read_bytes() == (tiny_dir("qwen2") / name).read_bytes(), name
    assert "chat_template" in json.loads((out / "tokenizer_config.json").read_text())
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["spec"] == provenance["source"] == str(tiny_dir("qwen2"))
    assert provenance["seed"] is None  # recorded, and null: the conversion draws nothing at random
    assert provenance["source_sha256"] == sha256_file(tiny_dir("qwen2") / "model.safetensors")
    assert provenance["model_sha256"] == sha256_file(out / "model.safetensors")
    assert provenance["files"]["tokenizer.json"] == sha256_file(out / "tokenizer.json")


def test_rerun_writes_identical_bytes(tmp_path):
    first = prepare_model(str(tiny_dir("llama")), tmp_path / "a")
    second = prepare_model(str(tiny_dir("llama")), tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_preparing_into_a_used_folder_removes_the_old_layout_only(tmp_path):
    # A shard index left from an earlier, sharded source would be loaded instead of the new single file.
    out = tmp_path / "out"
    out.mkdir()
    for name in ("model.safetensors.index.json", "model-00001-of-00002.safetensors", "special_tokens_map.json"):
        (out / name).write_text("{}")
    (out / "notes.txt").write_text("mine")
    prepare_model(str(tiny_dir("llama")), out)
    fresh = prepare_model(str(tiny_dir("llama")), tmp_path / "fresh")
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in fresh.iterdir()), "notes.txt"])
    assert json.loads((out / "provenance.json").read_text())["files"] == json.loads(
        (fresh / "provenance.json").read_text()
    )["files"] | {"notes.txt": sha256_file(out / "notes.txt")}


def test_chat_template_file_is_folded_into_tokenizer_config(tmp_path):
    source = tmp_path / "ckpt"
    shutil.copytree(tiny_dir("llama"), source)
    config = json.loads((source / "tokenizer_config.json").read_text())
    template = config.pop("chat_template")
    (source / "tokenizer_config.json").write_text(json.dumps(config))
    (source / "chat_template.jinja").write_text(template)
    out = prepare_model(str(source), tmp_path / "out")
    assert json.loads((out / "tokenizer_config.json").read_text())["chat_template"] == template


def test_missing_files_are_all_named(tmp_path):
    source = tmp_path / "ckpt"
    source.mkdir()
    shutil.copy(tiny_dir("llama") / "config.json", source)
    with pytest.raises(MissingInputError) as error:  # a FileNotFoundError
        prepare_model(str(source), tmp_path / "out")
    assert "tokenizer.json" in str(error.value) and "model.safetensors" in str(error.value)
    assert not (tmp_path / "out").exists()  # checked before the output folder is made


def test_unsupported_architecture_is_refused(tmp_path):
    source = tmp_path / "ckpt"
    shutil.copytree(tiny_dir("llama"), source)
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "model_type": "gpt_neox"}))
    with pytest.raises(ValueError, match="gpt_neox"):
        prepare_model(str(source), tmp_path / "out")


def _fake_hub_cache(root, repo_id, source):
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)


def test_hub_id_resolves_from_the_local_cache_only(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _fake_hub_cache(tmp_path / "hub", "tiny-org/tiny-mistral", tiny_dir("mistral"))
    out = prepare_model("tiny-org/tiny-mistral", tmp_path / "out")
    assert (out / "model.safetensors").read_bytes() == (tiny_dir("mistral") / "model.safetensors").read_bytes()
    assert json.loads((out / "provenance.json").read_text())["source"] == "hf:tiny-org/tiny-mistral"
    with pytest.raises(FileNotFoundError, match="local Hugging Face cache") as error:
        prepare_model("tiny-org/absent", tmp_path / "out2")
    assert str(tmp_path / "hub") in str(error.value)


def test_spec_that_is_nothing_known_is_explained(tmp_path):
    with pytest.raises(MissingInputError, match="smollm2-135m-instruct") as error:
        prepare_model("no-such-model", tmp_path / "out")
    assert "local .gguf file, a local HF checkpoint directory" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_cli_pair_prepares_and_prints_the_directory(tmp_path):
    parser = argparse.ArgumentParser()
    prepare_module.add_arguments(parser)
    args = parser.parse_args([str(tiny_dir("llama")), "--out", str(tmp_path / "out")])
    printed = []
    assert prepare_module.main(args, echo=printed.append) == 0
    assert printed == [str(tmp_path / "out")] and (tmp_path / "out" / "model.safetensors").is_file()


def test_copied_checkpoint_files_get_the_mode_a_plain_write_would(tmp_path):
    # Streamed through a private temporary file, a copy must still end readable as the umask allows.
    import os
    import stat

    out = prepare_model(str(tiny_dir("qwen2")), tmp_path / "out")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "model.safetensors").stat().st_mode) == 0o666 & ~umask
