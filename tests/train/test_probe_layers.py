"""The linear-probe helpers of benchmarks/probe_layers.py (the lever study's layer diagnosis)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_layers.py"
spec = importlib.util.spec_from_file_location("probe_layers", SCRIPT)
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)


def test_ridge_fit_matches_least_squares_on_the_augmented_system():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)) + 2.0
    y = (x @ np.array([1.5, -2.0, 0.0, 0.5, 0.0]) + rng.normal(size=300) > 0).astype(int)
    alpha = 0.1
    w, b = probe.ridge_fit(x, y, alpha=alpha)
    # Independent reference: minimise |[x 1] v - t|^2 + alpha n |w|^2 by lstsq on rows [x 1; sqrt(alpha n) I 0].
    penalty = np.hstack([np.sqrt(alpha * len(x)) * np.eye(5), np.zeros((5, 1))])
    design = np.vstack([np.hstack([x, np.ones((300, 1))]), penalty])
    target = np.concatenate([2.0 * y - 1.0, np.zeros(5)])
    reference = np.linalg.lstsq(design, target, rcond=None)[0]
    np.testing.assert_allclose(np.append(w, b), reference, atol=1e-10)
    assert w[0] > 0 > w[1]


def test_cross_validation_finds_a_linear_rule_and_not_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 20))
    rule = (x[:, 3] - x[:, 7] > 0).astype(int)
    assert probe.cross_validated_accuracy(x, rule, folds=5, alpha=1e-3, seed=0) > 0.9
    noise = rng.integers(0, 2, 400)
    assert probe.cross_validated_accuracy(x, noise, folds=5, alpha=1e-3, seed=0) == pytest.approx(0.5, abs=0.08)


def test_targets_are_label_free():
    row = {
        "options": json.dumps([{"label": "K", "action": "D"}, {"label": "J", "action": "C"}]),
        "optimal_action": "C",
        "theory_ignoring_belief": "D",
        "belief": 0.7,
    }
    assert probe.targets_of(row) == {
        "optimal_position": 0,
        "optimal_is_c": 1,
        "ignoring_belief_position": 1,
        "belief_c": 1,
    }
    assert probe.targets_of({**row, "belief": None})["belief_c"] is None


def test_learning_curve_rises_with_training_items_on_one_shared_test_set():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1200, 40))
    rule = (x[:, :10].sum(1) + rng.normal(scale=1.5, size=1200) > 0).astype(int)
    curve = probe.learning_curve(x, rule, sizes=[20, 100, 800], alpha=1e-3, repeats=3, seed=0)
    assert curve[0] < curve[1] < curve[2]
    # 800 items fit 40 weights well: close to the rule's own accuracy under its noise (about 0.85 here).
    assert curve[2] > 0.8
    noise = rng.integers(0, 2, 1200)
    assert probe.learning_curve(x, noise, sizes=[800], alpha=1e-3, repeats=3, seed=0)[0] == pytest.approx(0.5, abs=0.06)
    with pytest.raises(ValueError, match="no test items"):
        probe.learning_curve(x, rule, sizes=[1200], alpha=1e-3, repeats=1, seed=0)
