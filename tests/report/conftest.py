import pytest

from econalign.config import load_config

from .fixtures import write_fixture_results


@pytest.fixture
def fixture_results(tmp_path):
    results = tmp_path / "results"
    write_fixture_results(results)
    return results


@pytest.fixture
def paper_config():
    return load_config(
        overrides={
            "report": {
                "latex": "off",
                "targets": [
                    {
                        "metric": "evaluate/{agent}/agreement/all/own/all/choice/estimate",
                        "min": 0.9,
                        "description": "fit",
                    },
                    {
                        "metric": "evaluate/economicus/agreement/all/own/all/choice/estimate",
                        "above": "evaluate/base/agreement/all/economicus/all/choice/estimate",
                    },
                    {"metric": "evaluate/{agent}/agreement/test_families/own/all/choice/estimate", "min": 0.5},
                    {"metric": "applications/pricing/findings/moralis_above_economicus/all", "equals": True},
                ],
            }
        }
    )
