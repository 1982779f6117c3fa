"""The battery's metrics on reference agents: exact agents agree with their theory, rules sit where they must."""

import dataclasses

import numpy as np
import polars as pl
import pytest
from scipy import optimize, special, stats

from econalign.evaluate.battery import build_battery, evaluate_references
from econalign.evaluate.metrics import presentation, rate, sensitivity, summarise
from econalign.evaluate.per_item import item_results
from econalign.evaluate.predictions import Theory
from econalign.evaluate.scoring import Scores
from econalign.stats import wilson_interval
from econalign.theory import HomoEconomicus

TEST_SPLITS = ["test_families", "test_labels", "test_paraphrases", "test_payoffs"]


@pytest.fixture(scope="module")
def references(dataset_dir, tmp_path_factory):
    from econalign.config import load_config

    config = load_config(overrides={"evaluate": {"max_items_per_split": 0, "consistency_items": 12}})
    return evaluate_references(config, data_dir=dataset_dir, out_dir=tmp_path_factory.mktemp("reference"))["references"]


@pytest.mark.parametrize("theory", ["economicus", "moralis_k50"])
def test_exact_agents_agree_with_their_own_theory_everywhere(references, theory):
    metrics = references[f"exact_{theory}"]
    assert metrics["own_theory"] == theory
    for split in [*TEST_SPLITS, "all", "probe_labels", "probe_paraphrases"]:
        agreement = metrics["agreement"][split][theory]["all"]
        assert agreement["choice"]["n"] > 0
        assert agreement["choice"]["estimate"] == 1.0
        assert agreement["prob"]["estimate"] == pytest.approx(1.0)
        assert agreement["choice"]["low"] < 1.0  # a finite sample never proves perfection
        assert abs(metrics["regret"][split][theory]["expected"]["estimate"]) < 1e-12
    other = "moralis_k50" if theory == "economicus" else "economicus"
    assert metrics["agreement"]["all"][other]["all"]["choice"]["estimate"] < 0.8


def test_random_agent_sits_at_chance(references, dataset_dir, config):
    battery, _, _ = build_battery(config, dataset_dir)
    metrics = references["random"]
    for theory in ["economicus", "moralis_k50"]:
        answered = battery.filter(pl.col(f"pred_{theory}").is_not_null() & ~pl.col("split").str.starts_with("probe"))
        chance = float(np.mean([1.0 / len(labels) for labels in answered["labels"]]))
        agreement = metrics["agreement"]["all"][theory]["all"]
        assert agreement["prob"]["estimate"] == pytest.approx(chance)
        assert agreement["choice"]["low"] < chance < agreement["choice"]["high"]
    assert metrics["consistency"]["labels"]["n_pairs"] > 0
    assert metrics["consistency"]["labels"]["same_choice"]["n"] == 0  # ties are no choices
    assert metrics["consistency"]["labels"]["abs_diff"]["estimate"] == pytest.approx(0.0)


def test_position_bias_shows_as_label_swap_inconsistency(references):
    listed = references["first_listed"]["consistency"]
    assert listed["labels"]["same_choice"]["estimate"] == 0.0
    # Picking by position flips the action on every swapped 2x2 pair: cooperation levels 0 and 1.
    assert listed["labels"]["abs_diff"]["estimate"] == pytest.approx(1.0)
    assert listed["paraphrases"]["abs_diff"]["estimate"] == pytest.approx(0.0)
    assert listed["paraphrases"]["same_choice"]["estimate"] == 1.0
    for name in ["exact_economicus", "exact_moralis_k50", "first_action"]:
        for axis in ["labels", "paraphrases"]:
            assert references[name]["consistency"][axis]["same_choice"]["estimate"] == 1.0


def test_fixed_action_rules_cooperate_always_or_never(references):
    for family in ["prisoners_dilemma", "stag_hunt", "chicken"]:
        assert references["first_action"]["cooperation"]["all"][family]["choice"]["estimate"] == 1.0
        assert references["second_action"]["cooperation"]["all"][family]["choice"]["estimate"] == 0.0
        assert references["first_action"]["cooperation"]["all"][family]["choice"]["method"].startswith("wilson")
    dictator = references["first_action"]["cooperation"]["all"]["dictator"]["choice"]
    assert dictator["estimate"] == 0.0 and dictator["method"] == "t"  # giving nothing is the first plan


def test_pooled_split_leaves_the_probes_out(references):
    counts = references["random"]["n_items"]
    assert counts["all"] == sum(counts[split] for split in TEST_SPLITS)


def test_theory_slopes_have_the_right_sign(references):
    # Economicus in a stag hunt matches the other's likely choice; in chicken it does the opposite.
    economicus = references["exact_economicus"]["sensitivity"]
    assert economicus["stag_hunt"]["agent"]["lpm"]["coef"]["belief"]["estimate"] > 0
    assert economicus["stag_hunt"]["agent"]["logit"]["coef"]["belief"]["estimate"] > 0
    assert economicus["chicken"]["agent"]["lpm"]["coef"]["belief"]["estimate"] < 0
    # Economicus never cooperates in the prisoner's dilemma: constant, no logit slope, a zero one on the rate scale.
    pd = economicus["prisoners_dilemma"]
    assert pd["agent"]["logit"]["constant"] and not pd["agent"]["logit"]["separated"]
    assert pd["agent"]["logit"]["coef"]["temptation"]["estimate"] is None
    assert pd["agent"]["lpm"]["constant"]
    assert pd["agent"]["lpm"]["coef"]["temptation"]["estimate"] == 0.0
    # The theory's own side says the same by the closed form (SCIENCE.md: D is dominant for every belief): no logit
    # slope, and a cooperation rate of exactly 0 whatever the temptation.
    theory_pd = pd["theory"]["economicus"]
    assert theory_pd["logit"]["constant"] and theory_pd["logit"]["coef"]["temptation"]["estimate"] is None
    assert theory_pd["lpm"]["coef"]["const"]["estimate"] == 0.0 == theory_pd["lpm"]["coef"]["temptation"]["estimate"]
    # Moralis in a stag hunt follows a belief threshold: separated yet varying, so its logit slope keeps its sign.
    moralis_sh = references["exact_moralis_k50"]["sensitivity"]["stag_hunt"]["agent"]["logit"]
    assert moralis_sh["separated"] and not moralis_sh["constant"]
    assert moralis_sh["coef"]["belief"]["estimate"] > 0
    # Homo moralis cooperates less when defecting tempts more (SCIENCE.md threshold).
    moralis = references["exact_moralis_k50"]["sensitivity"]["prisoners_dilemma"]
    assert moralis["agent"]["lpm"]["coef"]["temptation"]["estimate"] < 0
    # The theory's slopes stored beside any agent's are the exact agent's own.
    theory_side = references["random"]["sensitivity"]["prisoners_dilemma"]["theory"]["moralis_k50"]
    assert theory_side["lpm"] == moralis["agent"]["lpm"]


def test_sensitivity_recovers_a_known_logit_slope():
    x = np.linspace(0.0, 1.0, 40)
    y = special.expit(1.0 - 3.0 * x)
    items = pl.DataFrame(
        {
            "split": ["test_payoffs"] * 40,
            "family": ["prisoners_dilemma"] * 40,
            "coop_expected": y,
            "coop_choice": (y > 0.5).astype(float),
            "coop_levels": [[1.0, 0.0]] * 40,
            "x_temptation": x,
            "x_belief": [None] * 40,
            "x_mpcr": [None] * 40,
            "theory_probs_economicus": [[0.0, 1.0]] * 40,
        },
        schema_overrides={"x_belief": pl.Float64, "x_mpcr": pl.Float64},
    )
    result = sensitivity(items, [Theory("economicus", HomoEconomicus())], confidence=0.95)
    entry = result["prisoners_dilemma"]
    assert entry["covariates"] == ["temptation"]
    assert entry["agent"]["logit"]["coef"]["temptation"]["estimate"] == pytest.approx(-3.0, abs=0.05)
    assert entry["agent_choice"]["logit"]["coef"]["temptation"]["estimate"] < 0


def _hc1_by_hand(design, residuals, weights):
    """White's sandwich with the n / (n - k) factor, summed observation by observation."""
    n, k = design.shape
    bread, meat = np.zeros((k, k)), np.zeros((k, k))
    for x_i, e_i, w_i in zip(design, residuals, weights, strict=True):
        bread += w_i * np.outer(x_i, x_i)
        meat += e_i**2 * np.outer(x_i, x_i)
    inverse = np.linalg.inv(bread)
    return np.sqrt(np.diag(inverse @ meat @ inverse) * n / (n - k))


def _maximise(objective, k):
    return optimize.minimize(lambda b: -objective(b), np.zeros(k), method="BFGS", options={"gtol": 1e-9}).x


def test_sensitivity_logits_match_scipy_fits_and_hand_sandwiches():
    """Noisy outcomes with a known slope in two covariates: the agent's fractional logit is the maximiser of the
    Bernoulli quasi-log-likelihood (scipy), its choice logit that of the Firth-penalised likelihood, the LPM least
    squares; every standard error is the HC1 sandwich written out below, and every interval estimate +- z se."""
    rng = np.random.default_rng(11)
    n, truth = 300, np.array([0.5, -2.5, 1.5])
    temptation, belief = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    design = np.column_stack([np.ones(n), temptation, belief])
    p_true = special.expit(design @ truth)
    expected = np.clip(p_true + rng.normal(scale=0.15, size=n), 0.0, 1.0)
    choice = (rng.uniform(size=n) < p_true).astype(float)
    items = pl.DataFrame(
        {
            "split": ["test_payoffs"] * n,
            "family": ["stag_hunt"] * n,
            "coop_expected": expected,
            "coop_choice": choice,
            "coop_levels": [[1.0, 0.0]] * n,
            "x_temptation": temptation,
            "x_belief": belief,
            "x_mpcr": [None] * n,
            # A quantal theory whose cooperation probability is exactly the true logit: its slope is the truth.
            "theory_probs_economicus": [[q, 1.0 - q] for q in p_true],
        },
        schema_overrides={"x_mpcr": pl.Float64},
    )
    entry = sensitivity(items, [Theory("economicus", HomoEconomicus())], confidence=0.9)["stag_hunt"]
    assert entry["covariates"] == ["temptation", "belief"] and entry["n"] == n
    names = ("const", "temptation", "belief")
    z = stats.norm.ppf(0.95)

    def loglik(y):
        return lambda b: float(np.sum(y * (design @ b) - np.logaddexp(0.0, design @ b)))

    def firth(y):
        def penalised(b):
            p = special.expit(design @ b)
            return loglik(y)(b) + 0.5 * np.linalg.slogdet((design * (p * (1 - p))[:, None]).T @ design)[1]

        return penalised

    def check(fitted, beta, se):
        for name, b, s in zip(names, beta, se, strict=True):
            coef = fitted["coef"][name]
            assert coef["estimate"] == pytest.approx(b, abs=2e-5), name
            assert coef["se"] == pytest.approx(s, rel=1e-4), name
            assert (coef["low"], coef["high"]) == pytest.approx((b - z * s, b + z * s), abs=1e-4)
            assert coef["p_value"] == pytest.approx(2 * stats.norm.sf(abs(b / s)), rel=1e-3, abs=1e-12)

    fractional = _maximise(loglik(expected), 3)
    p = special.expit(design @ fractional)
    check(entry["agent"]["logit"], fractional, _hc1_by_hand(design, expected - p, p * (1 - p)))
    assert not entry["agent"]["logit"]["separated"]
    # The known slopes lie within 4 robust standard errors.
    for name, true in zip(names, truth, strict=True):
        coef = entry["agent"]["logit"]["coef"][name]
        assert abs(coef["estimate"] - true) < 4 * coef["se"], name

    binary = _maximise(firth(choice), 3)  # 0/1 outcomes: always Firth-penalised (fit_logit's documented rule)
    p = special.expit(design @ binary)
    check(entry["agent_choice"]["logit"], binary, _hc1_by_hand(design, choice - p, p * (1 - p)))

    ols, *_ = np.linalg.lstsq(design, expected, rcond=None)
    check(entry["agent"]["lpm"], ols, _hc1_by_hand(design, expected - design @ ols, np.ones(n)))

    theory = entry["theory"]["economicus"]["logit"]["coef"]
    for name, true in zip(names, truth, strict=True):
        assert theory[name]["estimate"] == pytest.approx(true, abs=1e-6)
        assert theory[name]["se"] == pytest.approx(0.0, abs=1e-6)


@dataclasses.dataclass
class QuantalScorer:
    """Softmax of a theory's utilities (quantal response): its choice probabilities track utility gaps."""

    theory: str
    scale: float = 8.0
    name: str = "quantal"

    def score(self, battery):
        probs = []
        for utilities, span in zip(battery[f"utilities_{self.theory}"], battery["payoff_range"], strict=True):
            u = np.nan_to_num(np.asarray(utilities), nan=0.0)
            probs.append(special.softmax(self.scale * u / span))
        return Scores.from_probs(probs)


def test_quantal_agent_correlates_with_its_theory_utility_gap(dataset_dir, config):
    battery, theories, _ = build_battery(config, dataset_dir)
    items = item_results(battery, QuantalScorer("moralis_k50").score(battery), theories, agent="quantal", seed=0)
    metrics = summarise(items, theories, own_theory="moralis_k50")
    own = metrics["utility_correlation"]["all"]["own"]
    assert own == metrics["utility_correlation"]["all"]["moralis_k50"]
    assert own["n"] > 50 and own["pearson"] > 0.8 and own["spearman"] > 0.8
    regret = metrics["regret"]["all"]["own"]["expected"]["estimate"]
    assert 0 < regret < references_regret_bound(items)


def test_per_item_probability_of_the_answer_and_regret_of_the_choice_under_another_theory(dataset_dir, config):
    # An economicus quantal responder judged by homo moralis: where the two disagree its choice is not the answer.
    # Everything is recomputed from the battery alone: softmax of the economicus utilities, the moralis answer and
    # utilities, the argmax.
    battery, theories, _ = build_battery(config, dataset_dir)
    scorer = QuantalScorer("economicus", scale=3.0)
    items = item_results(battery, scorer.score(battery), theories, agent="quantal", seed=0)
    checked, disagreements = 0, 0
    for row in items.iter_rows(named=True):
        if row["pred_moralis_k50"] is None or row["tied"]:
            continue
        span = row["payoff_range"]
        mine = np.nan_to_num(np.asarray(row["utilities_economicus"], dtype=np.float64), nan=0.0)
        probs = special.softmax(scorer.scale * mine / span)
        u = np.asarray(row["utilities_moralis_k50"], dtype=np.float64)
        answer = row["actions"].index(row["pred_moralis_k50"])
        chosen = int(np.argmax(probs))
        assert row["p_pred_moralis_k50"] == pytest.approx(probs[answer])
        assert row["regret_choice_moralis_k50"] == pytest.approx((u.max() - u[chosen]) / span)
        assert row["regret_moralis_k50"] == pytest.approx((u.max() - probs @ u) / span)
        checked += 1
        disagreements += chosen != answer
    assert checked > 50 and disagreements > 5
    metrics = summarise(items, theories, own_theory="economicus")
    answered = items.filter(pl.col("p_pred_moralis_k50").is_not_null() & ~pl.col("split").str.starts_with("probe"))
    prob = metrics["agreement"]["all"]["moralis_k50"]["all"]["prob"]["estimate"]
    assert prob == pytest.approx(answered["p_pred_moralis_k50"].mean())
    choice_regret = metrics["regret"]["all"]["moralis_k50"]["choice"]["estimate"]
    assert choice_regret == pytest.approx(answered["regret_choice_moralis_k50"].mean()) and choice_regret > 0


def references_regret_bound(items):
    # A quantal responder loses less than the uniform mixture does, item by item on average.
    uniform = []
    for utilities, span in zip(items["utilities_moralis_k50"], items["payoff_range"], strict=True):
        u = np.asarray(utilities)
        if np.all(np.isfinite(u)):
            uniform.append((u.max() - u.mean()) / span)
    return float(np.mean(uniform))


@pytest.mark.parametrize("split", TEST_SPLITS)
def test_rules_match_the_dataset_baselines(references, dataset_dir, split):
    # econalign.data computes the same rules' accuracies on its own rows: both implementations must agree.
    from econalign.data.baselines import split_baselines

    baselines = split_baselines(pl.read_parquet(dataset_dir / "moralis" / f"{split}.parquet"))["overall"]
    pairs = {"first_action": "first_action", "second_action": "second_action", "first_listed": "first_listed",
             "theory_ignoring_belief": "ignoring_belief_moralis_k50"}  # fmt: skip
    for theirs, mine in pairs.items():
        estimate = references[mine]["agreement"][split]["moralis_k50"]["all"]["choice"]["estimate"]
        assert estimate == pytest.approx(baselines[theirs], abs=5e-5)


@pytest.mark.parametrize("theory", ["economicus", "moralis_k50"])
def test_belief_use_splits_the_items_the_belief_ignoring_rule_gets_wrong(references, dataset_dir, theory):
    # Exact: right on both kinds. The rule that ignores the belief: wrong exactly where the belief changes the answer
    # (the definition seen from the other side, so the column and the reference agent must agree item by item).
    exact, ignoring = references[f"exact_{theory}"], references[f"ignoring_belief_{theory}"]
    for split in [*TEST_SPLITS, "all"]:
        for kind in ("pivotal", "other"):
            assert exact["belief_use"][split][theory][kind]["estimate"] in (1.0, None)
        assert ignoring["belief_use"][split][theory]["other"]["estimate"] == 1.0
        pivotal = ignoring["belief_use"][split][theory]["pivotal"]
        assert pivotal["estimate"] in (0.0, None)
    # The pooled counts are the dataset's: stated-belief items whose answer differs from theory_ignoring_belief.
    agent = "economicus" if theory == "economicus" else "moralis"
    rows = pl.concat([pl.read_parquet(dataset_dir / agent / f"{s}.parquet") for s in TEST_SPLITS])
    stated = rows.filter(pl.col("belief").is_not_null() & pl.col("optimal_action").is_not_null())
    pivotal_rows = stated.filter(pl.col("optimal_action") != pl.col("theory_ignoring_belief")).height
    assert ignoring["belief_use"]["all"][theory]["pivotal"]["n"] == pivotal_rows
    assert ignoring["belief_use"]["all"][theory]["other"]["n"] == stated.height - pivotal_rows
    for split in TEST_SPLITS:  # per split too, and an estimate exactly where there are items
        mine = stated.filter(pl.col("split") == split)
        n_pivotal = mine.filter(pl.col("optimal_action") != pl.col("theory_ignoring_belief")).height
        for kind, n in (("pivotal", n_pivotal), ("other", mine.height - n_pivotal)):
            cell = ignoring["belief_use"][split][theory][kind]
            assert cell["n"] == n and (cell["estimate"] is None) == (n == 0), (split, kind)
    if theory == "economicus":  # the small battery poses such items for economicus (not for moralis at kappa 0.5)
        assert pivotal_rows > 5
        random = references["random"]["belief_use"]["all"][theory]["pivotal"]
        assert random["low"] < 0.5 < random["high"]


def test_benchmarks_sit_beside_the_agent_rates(references):
    rows = references["first_action"]["benchmarks"]
    pd = [row for row in rows if row["family"] == "prisoners_dilemma"]
    assert {row["population"] for row in pd} == {"humans", "gpt-3.5"}
    assert all(row["agent_choice"]["estimate"] == 1.0 for row in pd)


def _agree_frame(ids, values, theory="economicus"):
    return pl.DataFrame({"id": ids, f"agree_{theory}": values}, schema={"id": pl.String, f"agree_{theory}": pl.Boolean})


def test_paired_gain_is_the_paired_t_interval():
    from scipy import stats

    from econalign.evaluate.metrics import paired_gain

    rng = np.random.default_rng(3)
    n = 60
    ids = [f"item{i:03d}" for i in range(n)]
    base = rng.random(n) < 0.5
    mine = np.where(rng.random(n) < 0.7, True, base)  # agrees more often, correlated with base
    mine_values = [None if i in (4, 17) else bool(v) for i, v in enumerate(mine)]  # two failures: left out
    order = rng.permutation(n)  # the other agent's rows in another order: pairing is by id
    gain = paired_gain(
        _agree_frame(ids, mine_values),
        _agree_frame([ids[i] for i in order], [bool(base[i]) for i in order]),
        "economicus",
        confidence=0.9,
    )
    keep = np.array([v is not None for v in mine_values])
    diff = mine[keep].astype(float) - base[keep].astype(float)
    test = stats.ttest_rel(mine[keep].astype(float), base[keep].astype(float))
    half_width = stats.t.ppf(0.95, keep.sum() - 1) * gain["se"]
    assert gain["n"] == keep.sum() == n - 2
    assert gain["estimate"] == pytest.approx(diff.mean())
    assert gain["estimate"] / gain["se"] == pytest.approx(test.statistic)
    assert (gain["low"], gain["high"]) == pytest.approx((diff.mean() - half_width, diff.mean() + half_width))
    assert gain["significant"] is (gain["low"] > 0) and gain["significant"]


def test_paired_gain_without_a_difference_is_not_significant():
    from econalign.evaluate.metrics import paired_gain

    ids = [str(i) for i in range(10)]
    same = _agree_frame(ids, [i % 2 == 0 for i in range(10)])
    gain = paired_gain(same, same, "economicus", confidence=0.95)
    assert gain["estimate"] == gain["low"] == gain["high"] == 0.0 and gain["significant"] is False
    lone = paired_gain(same.head(1), same, "economicus", confidence=0.95)
    assert lone["n"] == 1 and lone["low"] is None and lone["significant"] is None


def test_rates_are_clustered_only_where_a_decision_problem_repeats():
    rng = np.random.default_rng(3)
    outcomes = (rng.random(40) < 0.6).astype(float)
    plain = rate(outcomes, binary=True, confidence=0.9)
    singletons = rate(outcomes, binary=True, confidence=0.9, clusters=[f"g{i}" for i in range(40)])
    assert singletons == plain and plain["method"] == "wilson"
    # Every problem posed twice: the interval is that of the 40 problems (on one trial fewer), not of 80 items.
    doubled = rate(np.repeat(outcomes, 2), binary=True, confidence=0.9, clusters=np.repeat(np.arange(40), 2))
    once = wilson_interval(outcomes.sum() * 39 / 40, 39, confidence=0.9)
    assert doubled["method"] == "wilson, clustered" and doubled["n"] == 80
    assert (doubled["low"], doubled["high"]) == pytest.approx((once["low"], once["high"]))
    levels = rng.random(40)
    t_doubled = rate(np.repeat(levels, 2), binary=False, confidence=0.9, clusters=np.repeat(np.arange(40), 2))
    t_once = rate(levels, binary=False, confidence=0.9)
    assert t_doubled["method"] == "t, clustered"
    assert (t_doubled["low"], t_doubled["high"]) == pytest.approx((t_once["low"], t_once["high"]))


@dataclasses.dataclass
class PresentationScorer:
    """Gives the theory's option 0.5 + lean + place * (±1/2) + letter * (±1/2) + order * (±1/2) on two-option items
    (the codes of listed first, earlier letter and labels in alphabetical order), else uniform."""

    theory: str
    lean: float
    place: float
    letter: float
    order: float = 0.0
    name: str = "presented"

    def score(self, battery):
        probs = []
        for actions, labels, answer in zip(battery["actions"], battery["labels"], battery[f"pred_{self.theory}"],
                                           strict=True):  # fmt: skip
            if len(actions) != 2 or answer is None:
                probs.append(np.full(len(actions), 1.0 / len(actions)))
                continue
            at = list(actions).index(answer)
            first = 0.5 if at == 0 else -0.5
            earlier = 0.5 if labels[at] < labels[1 - at] else -0.5
            in_order = 0.5 if labels[0] < labels[1] else -0.5
            p = 0.5 + self.lean + self.place * first + self.letter * earlier + self.order * in_order
            probs.append(np.array([p, 1 - p] if at == 0 else [1 - p, p]))
        return Scores.from_probs(probs)


def test_presentation_separates_preference_place_and_letter(dataset_dir, config):
    battery, theories, _ = build_battery(config, dataset_dir)
    scorer = PresentationScorer("economicus", lean=0.1, place=0.3, letter=-0.2, order=0.15)
    items = item_results(battery, scorer.score(battery), theories, agent="presented", seed=0)
    fit = summarise(items, theories, own_theory="economicus")["presentation"]["all"]["own"]
    assert fit["covariates"] == ["listed_first", "earlier_letter", "letters_in_order"]
    estimates = {name: coef["estimate"] for name, coef in fit["coef"].items()}
    expected = {"const": 0.6, "listed_first": 0.3, "earlier_letter": -0.2, "letters_in_order": 0.15}
    assert estimates == pytest.approx(expected, abs=1e-9)
    # Without label swaps the letter is the place: one code, the other left out rather than split arbitrarily.
    unswapped = items.filter(pl.col("labels").list.first() < pl.col("labels").list.last())
    assert presentation(unswapped, "economicus", confidence=0.95)["covariates"] == ["listed_first"]


def test_presentation_catches_letters_tied_to_places(dataset_dir, config):
    # Trained on labels in alphabetical order only, an agent that found the theory's option names the letter that
    # held the option's place in training: right when the labels are in order, the other option when swapped.
    battery, theories, _ = build_battery(config, dataset_dir)
    tied = PresentationScorer("economicus", lean=0.0, place=0.0, letter=0.0, order=0.9, name="tied")
    items = item_results(battery, tied.score(battery), theories, agent="tied", seed=0)
    fit = summarise(items, theories, own_theory="economicus")["presentation"]["all"]["own"]
    swapped = items.filter(
        (pl.col("actions").list.len() == 2) & (pl.col("labels").list.first() > pl.col("labels").list.last())
    )
    assert 0 < swapped.height < items.height
    assert fit["coef"]["letters_in_order"]["estimate"] == pytest.approx(0.9)
    # Place and letter balanced, the theory's option gets what an agent without a preference gets: the code, not
    # the constant, carries the shortcut.
    assert fit["coef"]["const"]["estimate"] == pytest.approx(0.5)
    assert fit["coef"]["listed_first"]["estimate"] == pytest.approx(0.0, abs=1e-9)


def test_presentation_of_the_reference_rules(references):
    exact = references["exact_economicus"]["presentation"]["all"]["economicus"]
    assert exact["constant"] and exact["coef"]["const"]["estimate"] == 1.0
    listed = references["first_listed"]["presentation"]["all"]["economicus"]
    assert listed["coef"]["const"]["estimate"] == pytest.approx(0.5)
    assert listed["coef"]["listed_first"]["estimate"] == pytest.approx(1.0)
    assert listed["coef"]["earlier_letter"]["estimate"] == pytest.approx(0.0, abs=1e-9)
    assert listed["coef"]["letters_in_order"]["estimate"] == pytest.approx(0.0, abs=1e-9)
    random = references["random"]["presentation"]["all"]["moralis_k50"]
    assert random["constant"] and random["coef"]["const"]["estimate"] == pytest.approx(0.5)
