"""Every docstring example in the package runs and prints what it shows (examples marked +SKIP excepted)."""

import doctest
import importlib
import pkgutil

import pytest

import econalign

MODULES = sorted(info.name for info in pkgutil.walk_packages(econalign.__path__, prefix="econalign.") if not info.ispkg)


def test_the_package_has_modules_to_check():
    assert "econalign.theory.solvers" in MODULES and "econalign.train.optim" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
