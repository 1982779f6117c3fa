"""A tiny test-split dataset in the synthesize schema, built from theory and the prompt templates (no synthesis run)."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from econalign.config import load_config, validate_config
from econalign.data.templates import render_item
from econalign.io import write_parquet
from econalign.theory import (
    Chicken,
    Dictator,
    Harmony,
    HomoEconomicus,
    HomoMoralis,
    PrisonersDilemma,
    PublicGoods,
    StagHunt,
    Trust,
    best_response,
    predicted_action,
)

AGENTS = {"economicus": HomoEconomicus(), "moralis": HomoMoralis(kappa=0.5)}
TRAIN_FAMILIES = {
    "prisoners_dilemma": [
        PrisonersDilemma(T=t, R=r, P=p, S=s)
        for t, r, p, s in [(5, 3, 1, 0), (8, 6, 2, 1), (10, 6, 3, 0), (6, 5, 1, 0), (9, 7, 4, 2), (7, 4, 3, 0)]
    ],
    "stag_hunt": [StagHunt(T=t, R=r, P=p, S=s) for t, r, p, s in [(3, 4, 2, 0), (6, 9, 5, 1), (5, 8, 2, 0)]],
    "chicken": [Chicken(T=t, R=r, P=p, S=s) for t, r, p, s in [(4, 3, 0, 1), (9, 6, 0, 3), (7, 5, 1, 2)]],
}
TEST_FAMILIES = {
    "harmony": [Harmony(T=2, R=3, P=0, S=1), Harmony(T=4, R=7, P=1, S=5)],
    "public_goods": [PublicGoods(n=n, endowment=10, mpcr=m, n_levels=2) for n, m in [(3, 0.4), (4, 0.5), (4, 0.8)]],
    "dictator": [Dictator(pie=10, n_levels=3)],
    "trust": [Trust(endowment=10, multiplier=3, n_levels=2)],
}
TEMPLATES = {
    "test_payoffs": {"pair": ["pair_plain", "pair_table"], "group": ["group_plain"]},
    "test_paraphrases": {"pair": ["pair_heldout_match", "pair_heldout_grid"], "group": ["group_heldout_team"]},
    "test_labels": {"pair": ["pair_partner"], "group": ["group_plain"]},
    "test_families": {"pair": ["pair_plain"], "group": ["group_plain"]},
}
LABELS = {"test_labels": ["PQRS", "BADC"]}


def _counts(rng, k):
    cuts = np.sort(rng.choice(10 + k - 1, size=k - 1, replace=False))
    return tuple(int(c) for c in np.diff(np.concatenate([[-1], cuts, [10 + k - 1]])) - 1)


def fixture_rows(n_per_split: int, seed: int = 0) -> dict[str, list[dict]]:
    """Item rows per test split, without the agent-specific columns."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, templates in TEMPLATES.items():
        families = TEST_FAMILIES if split == "test_families" else TRAIN_FAMILIES
        rows = []
        for i in range(n_per_split):
            family = list(families)[i % len(families)]
            game = families[family][int(rng.integers(len(families[family])))]
            same_type = family in TRAIN_FAMILIES and rng.uniform() < 0.2
            counts = None if same_type else _counts(rng, game.n_actions)
            kind = "group" if isinstance(game, PublicGoods) else "pair"
            template = templates[kind][i % len(templates[kind])]
            letters = LABELS.get(split, ["ABCD", "JKLM"])[i % 2]
            labels = list(letters[: game.n_actions])
            order = list(rng.permutation(game.n_actions)) if kind == "pair" else [int(rng.integers(2)), 0][:1]
            if kind == "group":
                order = [0, 1] if i % 2 else [1, 0]
            belief = None if counts is None else [c / 10 for c in counts]
            rendered = render_item(
                game, belief=belief, template=template, labels=labels, order=order, reasoning_first=False
            )
            rows.append(
                {
                    "id": f"{split}-{family}-{i:04d}",
                    "split": split,
                    "family": family,
                    "params": json.dumps(game.params(), sort_keys=True),
                    "belief": None if counts is None else counts[0] / 10,
                    "belief_counts": None if counts is None else json.dumps(list(counts)),
                    "options": json.dumps(rendered.options),
                    "messages": json.dumps(rendered.messages),
                    "template": template,
                    "_game": game,
                    "_belief": belief,
                }
            )
        splits[split] = rows
    return splits


def write_dataset(root: Path, *, n_per_split: int = 24, seed: int = 0) -> Path:
    """Write ``root/{agent}/{split}.parquet`` for both agents (same items, agent-specific answers)."""
    splits = fixture_rows(n_per_split, seed)
    for agent, preference in AGENTS.items():
        for split, rows in splits.items():
            records = []
            for row in rows:
                answer = predicted_action(row["_game"], preference, row["_belief"])
                record = {k: v for k, v in row.items() if not k.startswith("_")}
                uniform = np.full(row["_game"].n_actions, 1.0 / row["_game"].n_actions)
                record.update(
                    agent=agent,
                    preference=preference.name,
                    kappa=float(preference.kappa),
                    optimal_action=answer,
                    theory_ignoring_belief=best_response(row["_game"], preference, uniform).action,
                    target=None,
                    seed=seed,
                )
                records.append(record)
            write_parquet(root / agent / f"{split}.parquet", pl.DataFrame(records).sort("id"))
    return root


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synthesize"))


@pytest.fixture
def config():
    return load_config(overrides={"evaluate": {"max_items_per_split": 0, "consistency_items": 12}})


REAL_CONFIG = {
    "seed": 3,
    "agents": [
        {"name": "economicus", "preference": "economicus"},
        {"name": "moralis", "preference": "moralis", "kappa": 0.5},
    ],
    "kappa_grid": [0.3],
    "data": {"n_train": 16, "n_validation": 8, "n_test": 40, "payoff_max": 7, "test_payoff_max": 8},
    "evaluate": {"max_items_per_split": 0, "consistency_items": 8},
}
"""A small real study: three agents (economicus, moralis at 0.5 and the grid's 0.3), 40 items per test split."""


@pytest.fixture(scope="session")
def real_config() -> dict:
    return validate_config(REAL_CONFIG)


@pytest.fixture(scope="session")
def real_dataset_dir(tmp_path_factory, real_config) -> Path:
    """``econalign.data.synthesize`` on ``REAL_CONFIG`` (a few seconds), not the theory-built fixture above."""
    from econalign.data.synthesize import synthesize

    out = tmp_path_factory.mktemp("real_synthesize")
    synthesize(real_config, out)
    return out
