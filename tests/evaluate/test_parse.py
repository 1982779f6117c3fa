"""Reasoning-first mode: the strict parser, and parse failures counted on their own, never mapped to an action."""

import json

import polars as pl
import pytest

from econalign.evaluate.battery import evaluate_scorer
from econalign.evaluate.cache import ScoreCache
from econalign.evaluate.parse import parse_choice
from econalign.evaluate.scoring import AgentScorer

from .fakes import CountingAgent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: B\nBecause B pays more.", 1),
        ("I weigh the payoffs.\nAnswer: A", 0),
        ("  Answer: A  \n", 0),
        ("Answer:B", 1),
        ("Answer: C", None),  # not an option
        ("Answer: A\nAnswer: B", None),  # contradicts itself
        ("I pick A.", None),  # no decision line
        ("The answer is\nAnswer: A maybe", None),  # extra words on the decision line
        ("First.\nAnswer: A\nThen more text.", None),  # decision line neither first nor last
        ("answer: a", None),  # wrong case
        ("", None),
        (None, None),
    ],
)
def test_strict_parser(text, expected):
    assert parse_choice(text, ["A", "B"]) == expected


def test_parser_respects_the_expected_position():
    assert parse_choice("Answer: A\nreasons", ["A", "B"], reasoning_first=True) is None
    assert parse_choice("reasons\nAnswer: A", ["A", "B"], reasoning_first=True) == 0
    assert parse_choice("reasons\nAnswer: A", ["A", "B"], reasoning_first=False) is None


def _reply(prompt):
    # Parses on some items, fails on others, depending only on the prompt.
    content = json.dumps(prompt)
    labels = "ABCDJKLMPQRS"
    label = next((ch for ch in labels if f'\\"Answer: {ch}\\"' in content), "A")
    return f"Thinking.\nAnswer: {label}" if len(content) % 3 else "I would rather not say."


def test_reasoning_mode_counts_parse_failures(dataset_dir, config, tmp_path):
    settings = {**config, "evaluate": {**config["evaluate"], "mode": "reasoning"}}
    agent = CountingAgent(replies=_reply)
    cache = ScoreCache(None, model_sha256=agent.model_sha256, adapter="none")
    scorer = AgentScorer(agent, name="base", cache=cache, mode="reasoning", max_new_tokens=16)
    metrics = evaluate_scorer(settings, scorer, data_dir=dataset_dir, out_dir=tmp_path)
    items = pl.read_parquet(tmp_path / "items.parquet")
    failed = items["parse_failed"]
    assert 0 < failed.sum() < items.height
    assert items.filter(pl.col("parse_failed"))["choice"].null_count() == failed.sum()
    assert items.filter(~pl.col("parse_failed"))["choice"].null_count() == 0
    pooled = items.filter(~pl.col("split").str.starts_with("probe"))
    assert metrics["parse_failure"]["all"]["estimate"] == pytest.approx(pooled["parse_failed"].mean())
    repeated = pooled["game_key"].n_unique() < pooled.height  # a game posed in two test splits
    assert metrics["parse_failure"]["all"]["method"] == ("wilson, clustered" if repeated else "wilson")
    # Agreement is computed on parsed replies only.
    answered = pooled.filter(pl.col("pred_economicus").is_not_null() & ~pl.col("parse_failed"))
    assert metrics["agreement"]["all"]["economicus"]["all"]["choice"]["n"] == answered.height
    assert metrics["mode"] == "reasoning"
    for reply, parsed in zip(items["response"], items["choice_label"], strict=True):
        assert parsed is None or reply.endswith(f"Answer: {parsed}")
