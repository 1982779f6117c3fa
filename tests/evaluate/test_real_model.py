"""The embedded model on a few battery items, through the CLI's own path (slow: loads and compiles the model)."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import special

from econalign.config import load_config
from econalign.data.templates import decision_line
from econalign.evaluate.battery import evaluate_agent


@pytest.fixture(scope="module")
def model_dir(smollm2_dir) -> Path:
    return smollm2_dir


@pytest.mark.slow
def test_embedded_model_scores_the_battery_and_reuses_its_cache(model_dir, dataset_dir, tmp_path):
    config = load_config(overrides={"evaluate": {"max_items_per_split": 2, "consistency_items": 1}})
    arguments = {"agent": "base", "model_dir": model_dir, "adapter_dir": None, "data_dir": dataset_dir,
                 "cache_dir": tmp_path / ".cache"}  # fmt: skip
    metrics = evaluate_agent(config, out_dir=tmp_path / "a", **arguments)
    items = pl.read_parquet(tmp_path / "a" / "items.parquet")
    assert items.height == 4 * 2 + 2 * 1 and metrics["own_theory"] is None
    for logprobs, probs in zip(items["logprobs"], items["probs"], strict=True):
        logprobs = np.asarray(logprobs)
        assert np.all(np.isfinite(logprobs)) and np.all(logprobs < 0)
        np.testing.assert_allclose(probs, special.softmax(logprobs), atol=1e-12)
    # The stored log-probabilities are the agent's own, scored one prompt at a time.
    from econalign.model.agent import load_agent

    agent = load_agent(model_dir, progress=False)
    scored = items.filter(pl.col("split") == "test_payoffs").row(0, named=True)
    row = pl.read_parquet(dataset_dir / "economicus" / "test_payoffs.parquet").filter(pl.col("id") == scored["id"])
    options = [decision_line(o["label"]) for o in json.loads(row["options"][0])]
    direct = agent.choice_logprobs([json.loads(row["messages"][0])], options)[0]
    np.testing.assert_allclose(scored["logprobs"], direct, atol=1e-4)
    # A re-run reads every score from the cache: identical outputs.
    evaluate_agent(config, out_dir=tmp_path / "b", **arguments)
    assert (tmp_path / "b" / "items.parquet").read_bytes() == (tmp_path / "a" / "items.parquet").read_bytes()
