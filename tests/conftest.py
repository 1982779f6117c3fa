import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# Property tests draw the same examples on every run, so a suite that passes on one machine passes on CI; an edge
# case found by exploring (HYPOTHESIS_PROFILE=explore) becomes an @example in the test.
settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
MAX_WORKERS = 2  # every worker loads the embedded model and runs JAX on all cores; more only add contention


def pytest_xdist_auto_num_workers(config) -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items) -> None:
    # The end-to-end DAG is the longest file: scheduled first, it runs beside the rest instead of after it.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The embedded model prepared once per session (or ECONALIGN_TEST_SMOLLM2, an already prepared dir)."""
    existing = os.environ.get("ECONALIGN_TEST_SMOLLM2")
    if existing:
        return Path(existing)
    from econalign.model.prepare import prepare_model

    return prepare_model("smollm2-135m-instruct", tmp_path_factory.mktemp("smollm2"))


@pytest.fixture(scope="session")
def smollm2_agent(smollm2_dir):
    from econalign.model.agent import load_agent

    return load_agent(smollm2_dir, progress=False)
