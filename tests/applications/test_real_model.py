"""The embedded model through both applications' commands (slow: loads and compiles the model)."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from econalign.data.templates import decision_line


@pytest.fixture(scope="module")
def model_dir(smollm2_dir) -> Path:
    return smollm2_dir


@pytest.mark.slow
def test_embedded_model_in_both_applications(model_dir, tmp_path):
    from econalign.cli import main
    from econalign.model.agent import load_agent

    config = {
        "av": {"n_pedestrians": [1, 10], "n_passengers": [1], "framings": ["moral", "buyer"]},
        "pricing": {"alphas": [1.0], "periods": 2, "reference_opponents": ["nash"]},
    }
    av_out, pricing_out = tmp_path / "av" / "base.parquet", tmp_path / "pricing"
    arguments = ["--config-json", json.dumps(config), "--model", str(model_dir)]
    assert main(["av", *arguments, "--agent", "base", "--out", str(av_out)]) == 0
    pairings = ["--pairing=base__base", "--pairing=base__nash"]
    assert main(["pricing", *arguments, *pairings, "--out-dir", str(pricing_out)]) == 0

    scores = pl.read_parquet(av_out)
    assert scores.height == 2 * 2 * 2
    assert ((scores["p_swerve"] > 0) & (scores["p_swerve"] < 1)).all()
    log = pl.read_parquet(pricing_out / "base__nash.parquet")
    assert log.height == 2 * 2 and (log.filter(pl.col("firm") == 1)["kind"] == "reference").all()
    # Batched scores equal the agent's own score of the logged prompt, one prompt at a time: the log replays.
    agent = load_agent(model_dir, progress=False)
    av_row = scores.row(0, named=True)
    options = [decision_line(o["label"]) for o in json.loads(av_row["options"])]
    direct = agent.choice_logprobs(json.loads(av_row["messages"]), options)
    np.testing.assert_allclose(
        direct, [av_row["logprob_" + o["action"]] for o in json.loads(av_row["options"])], atol=1e-4
    )
    llm = pl.read_parquet(pricing_out / "base__base.parquet").row(-1, named=True)
    direct = agent.choice_logprobs(json.loads(llm["prompt"]), [decision_line(letter) for letter in llm["labels"]])
    np.testing.assert_allclose(direct, llm["logprobs"], atol=1e-4)
    assert np.all(np.asarray(llm["logprobs"]) < 0)
