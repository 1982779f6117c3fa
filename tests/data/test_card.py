import json
from collections import Counter

import pytest

from econalign import __version__
from econalign.data.baselines import RULES
from econalign.data.synthesize import DATASET_SCHEMA, DATASET_VERSION, SPLITS
from econalign.io import config_hash


def _section_table(card: str, heading: str) -> list[list[str]]:
    """Rows (cells) of the first markdown table after ``heading``, header row excluded."""
    lines = card.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def card(synthesized) -> str:
    return (synthesized / "moralis" / "card.md").read_text()


def test_card_states_what_made_the_data(card, small_config):
    assert f"dataset version {DATASET_VERSION}" in card and f"econalign {__version__}" in card
    assert f"Seed: {small_config['seed']}" in card
    assert config_hash(small_config) in card
    assert "kappa = 0.5" in card


def test_card_counts_items_per_family_and_split(card, frames):
    rows = _section_table(card, "## Items per family and split")
    table = {row[0]: [int(x) for x in row[1:]] for row in rows}
    for family, counts in table.items():
        expected = [
            frames["moralis"][split].filter(frames["moralis"][split]["family"] == family).height for split in SPLITS
        ]
        assert counts == expected, family
    assert set(table) == {f for frame in frames["moralis"].values() for f in frame["family"]}


def test_card_counts_label_orders(card, frames):
    rows = _section_table(card, "## Items per label order and split")
    for row in rows:
        for split, count in zip(SPLITS, row[1:], strict=True):
            options = frames["moralis"][split]["options"].to_list()
            orders = Counter("".join(o["label"] for o in json.loads(x)) for x in options)
            assert int(count) == orders.get(row[0], 0), (row[0], split)


def test_card_baselines_match_baselines_json(card, synthesized):
    baselines = json.loads((synthesized / "moralis" / "baselines.json").read_text())
    rows = _section_table(card, "## Baselines: accuracy against this agent's theory")
    assert [row[0] for row in rows] == list(SPLITS)
    for row in rows:
        for rule, cell in zip(RULES, row[1:], strict=True):
            value = baselines[row[0]]["overall"][rule]
            assert cell == ("–" if value is None else f"{value:.3f}"), (row[0], rule)


def test_card_documents_conventions_and_columns(card, small_config):
    for phrase in ["last 10 games", "reasons exactly like you", "tie_margin", "swapped", "both roles", "Answer: "]:
        assert phrase in card, phrase
    for column in DATASET_SCHEMA:
        assert f"`{column}`" in card
    settings = json.loads(card.split("```json", 1)[1].split("```", 1)[0])
    assert settings == small_config["data"]


def test_card_counts_test_problems_that_recur_in_training(card, frames):
    rows = _section_table(card, "## Decision problems shared with the training data")
    columns = ("family", "params", "convention", "belief_counts")
    seen = {split: set(frames["moralis"][split].select(columns).iter_rows()) for split in ("train", "validation")}
    assert [row[0] for row in rows] == [s for s in SPLITS if s not in seen]
    for split, items, in_train, in_validation in rows:
        frame = frames["moralis"][split]
        problems = list(frame.select(columns).iter_rows())
        assert int(items) == frame.height
        assert int(in_train) == sum(p in seen["train"] for p in problems), split
        assert int(in_validation) == sum(p in seen["validation"] for p in problems), split
    counts = {row[0]: int(row[2]) for row in rows}
    assert counts["test_payoffs"] == 0 and counts["test_families"] == 0  # other payoffs, other games
