import doctest
import importlib

import pytest

MODULES = ["checks", "continuous", "games", "market", "preferences", "role_games", "solvers"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"econalign.theory.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
