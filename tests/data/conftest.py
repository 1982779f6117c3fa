"""One small synthesis run shared by the data tests (two agents, every split, payoffs 0..7)."""

from pathlib import Path

import polars as pl
import pytest

from econalign.config import validate_config
from econalign.data.synthesize import SPLITS, synthesize

SMALL_CONFIG = {
    "seed": 3,
    "data": {
        "families_test": ["harmony", "coordination", "public_goods", "dictator", "trust", "ultimatum"],
        "n_train": 60,
        "n_validation": 15,
        "n_test": 30,
        "payoff_max": 7,
        "test_payoff_max": 8,
        "max_candidates": 800,
    },
}


@pytest.fixture(scope="session")
def small_config() -> dict:
    return validate_config(SMALL_CONFIG)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory, small_config) -> Path:
    out = tmp_path_factory.mktemp("synthesized")
    synthesize(small_config, out)
    return out


@pytest.fixture(scope="session")
def frames(synthesized, small_config) -> dict[str, dict[str, pl.DataFrame]]:
    """agent -> split -> rows."""
    return {
        agent["name"]: {split: pl.read_parquet(synthesized / agent["name"] / f"{split}.parquet") for split in SPLITS}
        for agent in small_config["agents"]
    }
