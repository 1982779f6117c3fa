"""The package's layering (docs/architecture.md): pure theory never loads JAX or model code, and the model and
training stacks never load the game theory, however deep the import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import importlib, json, pkgutil, sys
import {package} as package
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_loaded_by(package: str) -> set[str]:
    # A fresh interpreter: the test session itself has imported everything already.
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(package=package)], capture_output=True, text=True, check=True
    )
    return set(json.loads(probe.stdout.strip().splitlines()[-1]))


def _under(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_theory_loads_no_jax_and_no_model_code():
    loaded = _modules_loaded_by("econalign.theory")
    assert _under(loaded, "jax", "flax", "optax", "econalign.model", "econalign.train", "econalign.data") == []


_GAMES = ("econalign.theory", "econalign.evaluate", "econalign.applications")


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("econalign.model", (*_GAMES, "econalign.data", "econalign.train")),
        ("econalign.train", (*_GAMES, "econalign.data.templates", "econalign.data.synthesize")),
    ],
)
def test_model_and_training_stacks_load_no_game_theory(package, forbidden):
    loaded = _modules_loaded_by(package)
    assert _under(loaded, *forbidden) == []
    assert "jax" in loaded  # the probe did import the stack


def test_the_decision_line_module_stands_alone():
    probe = subprocess.run(
        [sys.executable, "-c", "import json, sys, econalign.data.answers; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(probe.stdout))
    assert _under(loaded, "econalign.theory", "econalign.data.templates", "numpy", "polars") == []
