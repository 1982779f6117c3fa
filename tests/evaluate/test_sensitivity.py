"""Incentive-sensitivity slopes of rules that never vary: flagged constant, printed as such, not as separated."""

import json

import numpy as np
import polars as pl
import pytest
from scipy import special

from econalign.evaluate.collect import Results
from econalign.evaluate.metrics import sensitivity
from econalign.evaluate.predictions import Theory
from econalign.evaluate.tables import sensitivity_table
from econalign.theory import HomoEconomicus, HomoMoralis

N = 40


@pytest.fixture(scope="module")
def fitted():
    # An agent whose cooperation falls smoothly with the temptation, a rule that always defects (constant) and a
    # rule that cooperates below a temptation threshold (separated but varying).
    x = np.linspace(0.0, 1.0, N)
    coop = special.expit(1.0 - 3.0 * x)
    threshold = x < 0.42
    items = pl.DataFrame(
        {
            "split": ["test_payoffs"] * N,
            "family": ["prisoners_dilemma"] * N,
            "coop_expected": coop,
            "coop_choice": (coop > 0.5).astype(float),
            "coop_levels": [[1.0, 0.0]] * N,
            "x_temptation": x,
            "x_belief": [None] * N,
            "x_mpcr": [None] * N,
            "theory_probs_economicus": [[0.0, 1.0]] * N,
            "theory_probs_moralis_k50": [[1.0, 0.0] if t else [0.0, 1.0] for t in threshold],
        },
        schema_overrides={"x_belief": pl.Float64, "x_mpcr": pl.Float64},
    )
    theories = [Theory("economicus", HomoEconomicus()), Theory("moralis_k50", HomoMoralis(kappa=0.5))]
    return sensitivity(items, theories, confidence=0.95)["prisoners_dilemma"]


def test_a_constant_theory_has_no_logit_slope_and_a_zero_rate_slope(fitted):
    logit, lpm = fitted["theory"]["economicus"]["logit"], fitted["theory"]["economicus"]["lpm"]
    assert logit["constant"] and not logit["separated"]
    assert all(logit["coef"][name][key] is None for name in ("const", "temptation") for key in ("estimate", "z"))
    assert lpm["constant"] and lpm["coef"]["temptation"]["estimate"] == 0.0
    assert lpm["coef"]["const"]["estimate"] == 0.0  # the rate it never leaves
    json.dumps(fitted, allow_nan=False)  # no NaN reaches metrics.json


def test_a_threshold_theory_stays_separated_with_its_sign(fitted):
    logit = fitted["theory"]["moralis_k50"]["logit"]
    assert logit["separated"] and not logit["constant"]
    assert logit["coef"]["temptation"]["estimate"] < 0
    assert not fitted["agent"]["logit"]["constant"] and not fitted["agent"]["logit"]["separated"]


def test_the_table_marks_constant_theory_rows(fitted):
    metrics = {"theories": ["economicus", "moralis_k50"], "sensitivity": {"prisoners_dilemma": fitted}}
    results = Results(agents=("agent",), references=(), metrics={"agent": metrics}, items=pl.DataFrame())
    header, rows, caption = sensitivity_table(results)
    assert header == ["family", "parameter", "scale", "agent", "theory economicus", "theory moralis κ=0.5"]
    logit, rate = rows
    assert logit[:3] == ["prisoners_dilemma", "temptation", "logit"]
    assert logit[3].startswith("-3.00 (") and not logit[3].endswith("†")
    assert logit[4] == "0 (constant)"
    assert logit[5].startswith("-") and logit[5].endswith("†")
    assert rate[4] == "0.00"
    assert "0 (constant)" in caption and "† separated" in caption
