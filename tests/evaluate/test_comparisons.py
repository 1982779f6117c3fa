"""Where an aligned agent stands between the theories and against the reference rules (issue 5's two tests)."""

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from econalign.config import load_config
from econalign.evaluate.battery import build_battery, evaluate_references, evaluate_scorer
from econalign.evaluate.comparisons import every_split, own_versus_other, reference_rules, versus_rules
from econalign.evaluate.reference import ExactScorer, FirstListedScorer
from econalign.evaluate.report import games_summary


def _rate(value):
    return {"all": {"choice": {"estimate": value}}}


def _metrics(own, agreement, cooperation, split="test_payoffs"):
    return {
        "own_theory": own,
        "theories": {name: {} for name in agreement},
        "agreement": {split: {"own": _rate(agreement[own]), **{k: _rate(v) for k, v in agreement.items()}}},
        "cooperation": {split: {"all": {"choice": {"estimate": cooperation}}}},
    }


def _exact(levels, split="test_payoffs"):
    return {f"exact_{name}": {"cooperation": {split: _rate(level)}} for name, level in levels.items()}


def test_own_versus_other_compares_agreement_and_cooperation_with_each_theory():
    exact = _exact({"moralis": 0.6, "economicus": 0.4})
    result = own_versus_other(_metrics("moralis", {"moralis": 0.8, "economicus": 0.7}, 0.55), exact, "test_payoffs")
    assert result["agreement"] == {"moralis": 0.8, "economicus": 0.7}
    assert result["cooperation"] == {"agent": 0.55, "moralis": 0.6, "economicus": 0.4}
    assert result["nearer_own"] == {"agreement": True, "cooperation": True, "both": True}
    # Cooperating like economicus (0.45 is 0.05 from it, 0.15 from moralis) and agreeing with it as often: not nearer.
    result = own_versus_other(_metrics("moralis", {"moralis": 0.8, "economicus": 0.8}, 0.45), exact, "test_payoffs")
    assert result["nearer_own"] == {"agreement": False, "cooperation": False, "both": False}


def test_own_versus_other_must_be_nearer_than_every_other_theory():
    exact = _exact({"moralis_k50": 0.6, "economicus": 0.3, "moralis_k90": 0.9})
    agreement = {"moralis_k50": 0.8, "economicus": 0.5, "moralis_k90": 0.81}
    result = own_versus_other(_metrics("moralis_k50", agreement, 0.7), exact, "test_payoffs")
    assert result["nearer_own"] == {"agreement": False, "cooperation": True, "both": False}


def test_a_split_without_cooperation_levels_is_not_measured():
    metrics = _metrics("economicus", {"economicus": 0.9, "moralis": 0.5}, 0.3)
    del metrics["cooperation"]["test_payoffs"]
    result = own_versus_other(metrics, _exact({"economicus": 0.3, "moralis": 0.6}), "test_payoffs")
    assert result["nearer_own"] == {"agreement": True, "cooperation": None, "both": None}
    assert every_split([True, None]) is None and every_split([None, False]) is False


def test_own_versus_other_needs_the_exact_theories():
    metrics = _metrics("economicus", {"economicus": 0.9, "moralis": 0.5}, 0.3)
    with pytest.raises(KeyError, match="exact_moralis"):
        own_versus_other(metrics, _exact({"economicus": 0.3}), "test_payoffs")


def test_versus_rules_pairs_the_agent_with_each_rule_by_item():
    from scipy import stats

    n = 40
    ids = [f"i{k:02d}" for k in range(n)]
    agree = {
        "agent": [k % 10 != 0 for k in range(n)],  # 90%
        "random": [k % 2 == 0 for k in range(n)],  # 50%
        "ignoring_belief_economicus": [k % 10 not in (1, 2) for k in range(n)],  # 80%, right on 4 the agent misses
    }
    items = pl.concat(
        pl.DataFrame({"agent": name, "id": ids, "game_key": ids, "agree_economicus": values})
        for name, values in agree.items()
    )
    result = versus_rules(items, "agent", ["random", "ignoring_belief_economicus"], "economicus", confidence=0.95)
    for rule in ("random", "ignoring_belief_economicus"):
        mine, theirs = np.array(agree["agent"], float), np.array(agree[rule], float)
        gain = result["rules"][rule]
        assert gain["estimate"] == pytest.approx((mine - theirs).mean())
        assert gain["estimate"] / gain["se"] == pytest.approx(stats.ttest_rel(mine, theirs).statistic)
    assert result["closest_rule"] == "ignoring_belief_economicus"
    assert result["rules"]["random"]["significant"] is True
    assert result["rules"]["ignoring_belief_economicus"]["significant"] is False  # +0.1 on 40 items: inside the noise
    assert result["beats_every_rule"] is False


def test_the_exact_theories_are_no_rules_to_beat():
    names = ["exact_economicus", "exact_moralis_k50", "ignoring_belief_economicus", "random", "first_listed"]
    assert reference_rules(names) == ["ignoring_belief_economicus", "random", "first_listed"]


@dataclasses.dataclass(frozen=True)
class _Renamed:
    """A reference rule scored under an aligned agent's name, as if an LLM agent had learned it."""

    inner: ExactScorer | FirstListedScorer
    name: str

    def score(self, battery):
        return self.inner.score(battery)


def test_games_summary_finds_the_exact_theory_nearer_itself_and_ahead_of_the_rules(dataset_dir, tmp_path):
    config = load_config(overrides={"evaluate": {"max_items_per_split": 0, "consistency_items": 6}})
    evaluate_references(config, data_dir=dataset_dir, out_dir=tmp_path / "reference")
    _, battery_theories, _ = build_battery(config, dataset_dir)
    by_name = {theory.name: theory for theory in battery_theories}
    agents = {
        "base": FirstListedScorer(),
        "economicus": ExactScorer(by_name["economicus"]),
        "moralis": FirstListedScorer(),
    }
    owns = {"base": None, "economicus": "economicus", "moralis": "moralis_k50"}
    for name, scorer in agents.items():
        evaluate_scorer(config, _Renamed(scorer, name), data_dir=dataset_dir, out_dir=tmp_path / "evaluate" / name,
                        own=owns[name])  # fmt: skip
    summary = games_summary(config, tmp_path / "evaluate", tmp_path / "reference")
    splits = ["test_payoffs", "test_paraphrases", "test_labels", "test_families"]
    nearer = summary["own_versus_other"]["economicus"]
    assert list(nearer) == [*splits, "every_test_split"]
    for split in splits:
        assert nearer[split]["agreement"]["economicus"] == 1.0 > nearer[split]["agreement"]["moralis_k50"]
        levels = nearer[split]["cooperation"]
        assert levels["agent"] == levels["economicus"] != levels["moralis_k50"]
        assert nearer[split]["nearer_own"] == {"agreement": True, "cooperation": True, "both": True}
    assert nearer["every_test_split"] is True
    ahead = summary["versus_rules"]["economicus"]["all"]
    stored = json.loads((tmp_path / "reference" / "metrics.json").read_text())["rules"]
    assert set(ahead["rules"]) == set(reference_rules(stored))
    assert all(gain["estimate"] > 0 for gain in ahead["rules"].values())
    # The first-listed rule under an agent's name is that rule: no gain over it, so it beats nothing.
    copy = summary["versus_rules"]["moralis"]["all"]["rules"]["first_listed"]
    assert copy["estimate"] == 0.0 and copy["significant"] is False
    assert summary["versus_rules"]["moralis"]["test_payoffs"]["beats_every_rule"] is False


def test_the_own_versus_other_table_shows_each_agent_beside_every_theory_per_split():
    from econalign.evaluate.collect import Results
    from econalign.evaluate.tables import TABLES

    theories = {"economicus": {}, "moralis_k50": {}}

    def split_metrics(agreement, cooperation):
        return {
            "agreement": {"own": _rate(agreement[1]), "economicus": _rate(agreement[0]),
                          "moralis_k50": _rate(agreement[1])},
            "cooperation": _rate(cooperation),
        }  # fmt: skip

    splits = {"test_payoffs": split_metrics((0.6, 0.8), 0.55), "test_labels": split_metrics((0.5, 0.7), 0.35)}
    moralis = {
        "own_theory": "moralis_k50",
        "theories": theories,
        "agreement": {split: m["agreement"] for split, m in splits.items()},
        "cooperation": {split: m["cooperation"] for split, m in splits.items()},
    }
    base = {**moralis, "own_theory": None}
    exact = {
        "exact_economicus": {"cooperation": {"test_payoffs": _rate(0.3), "test_labels": _rate(0.3)}},
        "exact_moralis_k50": {"cooperation": {"test_payoffs": _rate(0.6), "test_labels": _rate(0.6)}},
    }
    results = Results(
        agents=("base", "moralis"),
        references=tuple(exact),
        metrics={"base": base, "moralis": moralis, **exact},
        items=pl.DataFrame({"agent": [], "split": []}),
    )
    header, rows, caption = TABLES["own_versus_other"](results, decimals=2)
    assert header == ["agent", "split", "agrees with economicus", "agrees with moralis κ=0.5", "cooperation",
                      "economicus cooperates", "moralis κ=0.5 cooperates", "nearer its own theory"]  # fmt: skip
    assert rows == [  # base has no theory of its own; 0.35 cooperation is nearer economicus's 0.3 than 0.6
        ["moralis", "test_payoffs", "0.60", "0.80", "0.55", "0.30", "0.60", "yes"],
        ["moralis", "test_labels", "0.50", "0.70", "0.35", "0.30", "0.60", "in agreement only"],
    ]
    assert "point estimates" in caption
    without_rules = Results(agents=results.agents, references=(), metrics=results.metrics, items=results.items)
    assert TABLES["own_versus_other"](without_rules)[1] == []
