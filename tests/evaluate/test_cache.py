"""The score cache: a re-run scores nothing twice, and any change to weights or prompt scores again."""

import hashlib

import numpy as np
import polars as pl
import pytest

from econalign import io
from econalign.evaluate import cache as cache_module
from econalign.evaluate.battery import build_battery, evaluate_scorer
from econalign.evaluate.cache import ScoreCache, adapter_hash, prompt_hash
from econalign.evaluate.scoring import AgentScorer

from .fakes import CountingAgent


def _scorer(agent, cache_path, adapter="none"):
    cache = ScoreCache(cache_path, model_sha256=agent.model_sha256, adapter=adapter)
    return AgentScorer(agent, name="moralis", cache=cache)


def test_rerun_scores_nothing_twice(dataset_dir, config, tmp_path):
    agent = CountingAgent()
    path = tmp_path / "cache.parquet"
    first = evaluate_scorer(config, _scorer(agent, path), data_dir=dataset_dir, out_dir=tmp_path / "a")
    battery, _, _ = build_battery(config, dataset_dir)
    assert agent.scored == battery.height and agent.calls == 1  # every prompt in one call
    again = evaluate_scorer(config, _scorer(agent, path), data_dir=dataset_dir, out_dir=tmp_path / "b")
    assert agent.scored == battery.height and agent.calls == 1  # nothing scored again
    assert first["agreement"] == again["agreement"]
    assert (tmp_path / "a" / "items.parquet").read_bytes() == (tmp_path / "b" / "items.parquet").read_bytes()
    # Other adapter weights: a different cache entry, so everything is scored again.
    evaluate_scorer(config, _scorer(agent, path, adapter="other"), data_dir=dataset_dir, out_dir=tmp_path / "c")
    assert agent.scored == 2 * battery.height


def test_only_new_prompts_are_scored(dataset_dir, config, tmp_path):
    agent = CountingAgent()
    path = tmp_path / "cache.parquet"
    small = {**config, "evaluate": {**config["evaluate"], "splits": ["test_payoffs"]}}
    evaluate_scorer(small, _scorer(agent, path), data_dir=dataset_dir, out_dir=tmp_path / "a")
    first = agent.scored
    evaluate_scorer(config, _scorer(agent, path), data_dir=dataset_dir, out_dir=tmp_path / "b")
    battery, _, _ = build_battery(config, dataset_dir)
    assert agent.scored == battery.height  # the test_payoffs items (and their probes) came from the cache
    assert 0 < first < battery.height


def test_cache_keys_and_persistence(tmp_path):
    path = tmp_path / "c.parquet"
    cache = ScoreCache(path, model_sha256="m", adapter="a")
    key = prompt_hash([{"role": "user", "content": "hi"}], ["Answer: A", "Answer: B"], mode="logprob")
    cache.put("x", key, logprobs=[-0.5, -1.5])
    cache.save()
    reloaded = ScoreCache(path, model_sha256="m", adapter="a")
    assert reloaded.get("x", key)["logprobs"] == [-0.5, -1.5]
    assert ScoreCache(path, model_sha256="m2", adapter="a").get("x", key) is None
    assert reloaded.get("y", key) is None
    other = prompt_hash([{"role": "user", "content": "hi"}], ["Answer: B", "Answer: A"], mode="logprob")
    assert other != key
    assert prompt_hash("hi", ["A"], mode="reasoning", max_new_tokens=8) != prompt_hash(
        "hi", ["A"], mode="reasoning", max_new_tokens=9
    )


def test_entries_of_another_score_revision_are_scored_again(tmp_path, monkeypatch):
    path = tmp_path / "c.parquet"
    cache = ScoreCache(path, model_sha256="m", adapter="a")
    cache.put("x", "p", logprobs=[-0.5, -1.5])
    cache.save()
    assert ScoreCache(path, model_sha256="m", adapter="a").get("x", "p")["logprobs"] == [-0.5, -1.5]

    monkeypatch.setattr(cache_module, "SCORE_REVISION", cache_module.SCORE_REVISION + 1)
    upgraded = ScoreCache(path, model_sha256="m", adapter="a")
    assert upgraded.get("x", "p") is None
    upgraded.put("y", "p", logprobs=[-0.1])
    upgraded.save()
    stored = pl.read_parquet(path)
    assert stored["item_id"].to_list() == ["y"]  # the stale entry is dropped from the file, not kept beside
    assert stored["revision"].to_list() == [cache_module.SCORE_REVISION]


def test_a_cache_file_without_revisions_is_not_read(tmp_path):
    path = tmp_path / "c.parquet"
    cache = ScoreCache(path, model_sha256="m", adapter="a")
    cache.put("x", "p", logprobs=[-0.5, -1.5])
    cache.save()
    pl.read_parquet(path).drop("revision").write_parquet(path)  # a file written before revisions were recorded
    assert ScoreCache(path, model_sha256="m", adapter="a").get("x", "p") is None


def test_adapter_hash_follows_content(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(np.arange(8, dtype=np.float32).tobytes())
    first = adapter_hash(adapter)
    assert adapter_hash(adapter) == first
    (adapter / "adapter_model.safetensors").write_bytes(np.arange(1, 9, dtype=np.float32).tobytes())
    assert adapter_hash(adapter) != first
    assert adapter_hash(None) == "none"


def _write_adapter(folder, weights):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(np.asarray(weights, dtype=np.float32).tobytes())
    return folder


def test_adapter_hash_ignores_hidden_files_and_follows_the_weights(tmp_path):
    adapter = _write_adapter(tmp_path / "adapter", np.arange(8))
    first = adapter_hash(adapter)
    # What Snakemake writes into a directory output, and other hidden files and folders: not part of the adapter.
    (adapter / ".snakemake_timestamp").touch()
    (adapter / ".DS_Store").write_bytes(b"finder")
    (adapter / ".ipynb_checkpoints").mkdir()
    (adapter / ".ipynb_checkpoints" / "adapter_config.json").write_text("{}")
    assert adapter_hash(adapter) == first
    # Where the folder lies does not matter: a copy elsewhere (another run's results) has the same hash.
    assert adapter_hash(_write_adapter(tmp_path / "elsewhere" / "adapter", np.arange(8))) == first
    (adapter / "adapter_model.safetensors").write_bytes(np.arange(1, 9, dtype=np.float32).tobytes())
    assert adapter_hash(adapter) != first
    (adapter / "adapter_model.safetensors").write_bytes(np.arange(8, dtype=np.float32).tobytes())
    (adapter / "adapter_config.json").write_text('{"r": 16}')
    assert adapter_hash(adapter) != first


def test_adapter_hash_is_one_function_with_a_pinned_definition(tmp_path):
    # evaluate's cache, av, pricing and finetune all use econalign.io.adapter_hash.
    assert adapter_hash is io.adapter_hash
    adapter = _write_adapter(tmp_path / "adapter", np.arange(4))
    (adapter / "sub").mkdir()
    (adapter / "sub" / "extra.bin").write_bytes(b"x")
    (adapter / ".snakemake_timestamp").touch()
    assert [p.relative_to(adapter).as_posix() for p in io.adapter_files(adapter)] == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "sub/extra.bin",
    ]
    # sha256 over "relative path NUL sha256 newline" of each file: unchanged for adapters without hidden files, so
    # scores cached before hidden files were left out keep their keys.
    expected = hashlib.sha256()
    for name in ["adapter_config.json", "adapter_model.safetensors", "sub/extra.bin"]:
        digest = hashlib.sha256((adapter / name).read_bytes()).hexdigest()
        expected.update(f"{name}\0{digest}\n".encode())
    assert adapter_hash(adapter) == expected.hexdigest()
    with pytest.raises(NotADirectoryError):
        adapter_hash(tmp_path / "missing")
