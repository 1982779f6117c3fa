"""The score cache: a re-run scores nothing twice, and any change to weights or prompt scores again."""

import numpy as np

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


def test_adapter_hash_follows_content(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(np.arange(8, dtype=np.float32).tobytes())
    first = adapter_hash(adapter)
    assert adapter_hash(adapter) == first
    (adapter / "adapter_model.safetensors").write_bytes(np.arange(1, 9, dtype=np.float32).tobytes())
    assert adapter_hash(adapter) != first
    assert adapter_hash(None) == "none"
