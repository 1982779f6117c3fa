"""Session fixtures: a tiny model directory and a tiny dataset (see tiny.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny import write_dataset, write_model_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("tiny_data"))
