"""``econalign evaluate --hosted``: hosted models through an in-process ``econalign serve`` with fake agents."""

import json
import re

import numpy as np
import polars as pl
import pytest
from scipy import special
from serve.fakes_serve import FakeLM, FakeTokenizer

from econalign.cli import main
from econalign.config import load_config
from econalign.data.templates import decision_line, parse_decision
from econalign.evaluate.battery import build_battery, evaluate_scorer
from econalign.evaluate.cache import ScoreCache
from econalign.evaluate.scoring import AgentScorer
from econalign.io import derive_seed
from econalign.serve.server import AgentServer

from .fakes import CountingAgent, _value

EVALUATE = {"max_items_per_split": 10, "consistency_items": 4}
N_ITEMS = 10 * 4 + 2 * 4  # four capped test splits and two probe splits
KEY = "sk-hosted-test-0123456789abcdef"
KEY_ENV = "ECONALIGN_TEST_HOSTED_KEY"


class ReplyingAgent:
    """An agent that only replies (no token log-probabilities), deterministically in (prompt, seed).

    About one prompt in five is always refused; otherwise a reply names one of the labels the prompt offers, or (one
    seed in four) refuses. Refusals must count as parse failures.
    """

    model_sha256 = None

    def __init__(self):
        self.tokenizer = FakeTokenizer()

    @staticmethod
    def reply(messages, seed):
        labels = sorted(set(re.findall(r'"Answer: ([A-Z])"', messages[-1]["content"])))
        draw = _value(messages, seed)
        if not labels or _value(messages) < 0.2 or draw < 0.25:
            return "I would rather not say."
        return f"Answer: {labels[int(draw * 1000) % len(labels)]}\nIt pays more."

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, seed=0):
        return [self.reply(prompt, seed) for prompt in prompts]


def evaluate_hosted_cli(dataset_dir, out, entry):
    config = {"evaluate": EVALUATE, "hosted": [entry]}
    args = ["evaluate", "--config-json", json.dumps(config), "--hosted", entry["name"], "--data", str(dataset_dir)]
    return main([*args, "--out", str(out)])


def entry_for(server, tmp_path, **overrides):
    return {
        "name": "served",
        "model": "fake",
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "cache_dir": str(tmp_path / "cache"),
        "max_retries": 0,
        **overrides,
    }


@pytest.fixture
def prompts(dataset_dir):
    battery, _, _ = build_battery(load_config(overrides={"evaluate": EVALUATE}), dataset_dir)
    return {item_id: json.loads(messages) for item_id, messages in zip(battery["id"], battery["messages"], strict=True)}


def test_hosted_model_with_logprobs_scores_exactly_like_the_served_agent(dataset_dir, prompts, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    agent = FakeLM()
    with AgentServer(agent, model_name="fake", api_key=KEY) as server:
        entry = entry_for(server, tmp_path, logprob_method="continuations")
        out = tmp_path / "evaluate" / "served"
        assert evaluate_hosted_cli(dataset_dir, out, entry) == 0
        sent = server.request_count
        assert evaluate_hosted_cli(dataset_dir, tmp_path / "again", entry) == 0
        assert server.request_count == sent == N_ITEMS  # the re-run is answered by the response cache
    items = pl.read_parquet(out / "items.parquet")
    assert items.height == N_ITEMS
    for row in items.iter_rows(named=True):
        expected = agent.choice_logprobs(prompts[row["id"]], [decision_line(label) for label in row["labels"]])
        np.testing.assert_allclose(row["logprobs"], expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(row["probs"], special.softmax(expected), rtol=0, atol=1e-12)
    assert not items["unscorable"].any() and items["n_samples"].null_count() == items.height
    assert (out / "items.parquet").read_bytes() == (tmp_path / "again" / "items.parquet").read_bytes()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "logprob" and metrics["agent"] == "served" and metrics["own_theory"] is None
    record = metrics["provenance"]
    assert record["agent"] == "served" and record["model_id"] == f"fake@{server.base_url}"
    assert record["hosted"]["model_id"] == record["model_id"] and record["hosted"]["stats"]["unscorable"] == 0
    # Traffic counters (requests, cache hits) differ between a first run and a cached one: not recorded, so
    # the metrics are byte-identical on the re-run.
    assert "requests" not in record["hosted"]["stats"] and "cache_hits" not in record["hosted"]["stats"]
    assert (out / "metrics.json").read_bytes() == (tmp_path / "again" / "metrics.json").read_bytes()
    assert "model_sha256" not in record
    # The key is only ever sent in the Authorization header: no output or cache file holds it.
    written = [*out.iterdir(), *(tmp_path / "cache").rglob("*.json")]
    assert len(written) > N_ITEMS and all(KEY not in path.read_text(errors="replace") for path in written)


def test_hosted_model_without_logprobs_is_sampled_and_parse_failures_are_counted(dataset_dir, prompts, tmp_path):
    # The replying agent exposes no token log-probabilities: the server refuses any logprobs request (HTTP 400),
    # so a successful run proves that the battery only sampled.
    with AgentServer(ReplyingAgent(), model_name="fake") as server:
        entry = entry_for(server, tmp_path, api_key_env=None, logprobs=False, n_samples=6)
        out = tmp_path / "evaluate" / "served"
        assert evaluate_hosted_cli(dataset_dir, out, entry) == 0
        assert server.request_count == N_ITEMS * 6
    items = pl.read_parquet(out / "items.parquet")
    for row in items.iter_rows(named=True):
        replies = [ReplyingAgent.reply(prompts[row["id"]], derive_seed(0, k)) for k in range(6)]
        parsed = [parse_decision(reply, row["labels"]) for reply in replies]
        counts = np.array([parsed.count(label) for label in row["labels"]], dtype=np.float64)
        assert row["n_samples"] == 6
        assert row["reply_failure"] == pytest.approx(parsed.count(None) / 6)
        assert row["parse_failed"] == (counts.sum() == 0)
        if counts.sum():
            np.testing.assert_allclose(row["probs"], counts / counts.sum(), rtol=0, atol=1e-12)
            assert row["choice_label"] in row["labels"]
        else:  # no reply parsed: no probabilities and no action
            assert np.isnan(row["probs"]).all() and row["choice"] is None
        assert row["logprobs"] is None and not row["unscorable"]
    failed = items["parse_failed"]
    assert 0 < failed.sum() < items.height and 0 < items["reply_failure"].mean() < 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "sampled"
    pooled = items.filter(~pl.col("split").str.starts_with("probe"))
    assert metrics["parse_failure"]["all"]["estimate"] == pytest.approx(pooled["parse_failed"].mean())
    assert metrics["reply_failure"]["all"]["estimate"] == pytest.approx(pooled["reply_failure"].mean())
    assert metrics["reply_failure"]["all"]["n"] == pooled.height
    assert metrics["provenance"]["hosted"]["settings"]["n_samples"] == 6


def test_replies_without_the_decision_line_are_unscorable_not_softmaxed(dataset_dir, tmp_path):
    # FakeLM answers "Decision: <label>", never "Answer: <label>": top_logprobs cannot place the options.
    with AgentServer(FakeLM(), model_name="fake") as server:
        entry = entry_for(server, tmp_path, api_key_env=None, logprob_method="top_logprobs", score_max_tokens=4)
        out = tmp_path / "evaluate" / "served"
        assert evaluate_hosted_cli(dataset_dir, out, entry) == 0
    items = pl.read_parquet(out / "items.parquet")
    assert items["unscorable"].all() and items["choice"].null_count() == items.height
    assert all(np.isnan(np.array(probs, dtype=np.float64)).all() for probs in items["probs"].to_list())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unscorable"]["all"]["estimate"] == 1.0
    assert metrics["provenance"]["hosted"]["stats"]["unscorable"] == N_ITEMS


class PartlyUnscorable(CountingAgent):
    """NaN log-probabilities for about a third of the prompts."""

    def choice_logprobs(self, prompts, options):
        values = super().choice_logprobs(prompts, options)
        return [np.full(v.shape, np.nan) if _value(p) < 0.3 else v for p, v in zip(prompts, values, strict=True)]


def test_nan_logprobs_are_counted_as_unscorable(dataset_dir, config, tmp_path):
    agent = PartlyUnscorable()
    scorer = AgentScorer(agent, name="base", cache=ScoreCache(None, model_sha256="m", adapter="none"))
    metrics = evaluate_scorer(config, scorer, data_dir=dataset_dir, out_dir=tmp_path)
    items = pl.read_parquet(tmp_path / "items.parquet")
    bad = items["unscorable"]
    assert 0 < bad.sum() < items.height
    assert not items["parse_failed"].any()
    for row in items.iter_rows(named=True):
        assert np.isnan(row["probs"]).all() == row["unscorable"] == np.isnan(row["logprobs"]).all()
        assert (row["choice"] is None) == row["unscorable"]
        if not row["unscorable"]:
            np.testing.assert_allclose(row["probs"], special.softmax(row["logprobs"]), rtol=0, atol=1e-12)
    pooled = items.filter(~pl.col("split").str.starts_with("probe"))
    assert metrics["unscorable"]["all"]["estimate"] == pytest.approx(pooled["unscorable"].mean())
    answered = pooled.filter(pl.col("pred_economicus").is_not_null() & ~pl.col("unscorable"))
    assert metrics["agreement"]["all"]["economicus"]["all"]["choice"]["n"] == answered.height


def test_unknown_hosted_name_and_mixed_arguments_are_errors(dataset_dir, tmp_path, capsys):
    # Usage errors: one line naming the problem, status 2, no traceback.
    common = ["--data", str(dataset_dir), "--out", str(tmp_path)]
    for argv, message in (
        (["--hosted", "nope"], "econalign evaluate: unknown hosted model 'nope'"),
        (["--hosted", "x", "--model", "m"], "econalign evaluate: --hosted replaces --model and --adapter"),
        (["--hosted", "x", "--cache-dir", "c"], "econalign evaluate: --cache-dir caches a local model's scores only"),
        (["--references", "--cache-dir", "c"], "--references scores no model"),
    ):
        assert main(["evaluate", *argv, *common]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
