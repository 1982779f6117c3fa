import json
from collections import Counter

import numpy as np
import polars as pl
import pytest
import yaml

from econalign.cli import main as cli_main
from econalign.config import ConfigError, load_config, validate_config
from econalign.data.balance import balanced_choices, balanced_orders, greedy_select
from econalign.data.draws import game_space, is_held_out, strategic_key
from econalign.data.synthesize import SPLITS, TEST_SPLITS, draw_training_items, synthesize
from econalign.data.templates import HISTORY, TEMPLATES, decision_line, parse_decision, templates_for
from econalign.io import sha256_file
from econalign.theory import (
    best_response,
    family_of,
    game_from_params,
    is_best_response,
    is_symmetric_equilibrium,
    predicted_action,
    preference_from_config,
    symmetric_equilibria,
)

from .conftest import SMALL_CONFIG

# Columns and dtypes required by docs/architecture.md ("Dataset schema").
ARCHITECTURE_COLUMNS = {
    "id": pl.String,
    "split": pl.String,
    "family": pl.String,
    "params": pl.String,
    "belief": pl.Float64,
    "preference": pl.String,
    "kappa": pl.Float64,
    "options": pl.String,
    "optimal_action": pl.String,
    "messages": pl.String,
    "target": pl.String,
    "template": pl.String,
    "seed": pl.Int64,
}
AGENT_COLUMNS = {
    "agent", "preference", "kappa", "optimal_action", "label_optimal", "utility_gap", "utilities",
    "theory_ignoring_belief", "target",
}  # fmt: skip


def _rows(frames):
    for agent, splits in frames.items():
        for split, frame in splits.items():
            for row in frame.iter_rows(named=True):
                yield agent, split, row


def _listed_first(frame):
    """Per row: whether the answer is the first-listed option."""
    pairs = zip(frame["options"], frame["optimal_action"], strict=True)
    return [json.loads(options)[0]["action"] == answer for options, answer in pairs]


def _situations(frame):
    return set(frame.select("family", "params", "belief_counts").iter_rows())


def _game_and_belief(row):
    game = game_from_params(row["family"], row["params"])
    counts = None if row["belief_counts"] is None else json.loads(row["belief_counts"])
    return game, (None if counts is None else np.asarray(counts) / sum(counts))


# -- files, schema, determinism -----------------------------------------------------------------------------------


def test_every_agent_gets_every_file(synthesized, small_config):
    for agent in small_config["agents"]:
        names = {p.name for p in (synthesized / agent["name"]).iterdir()}
        assert names == {f"{s}.parquet" for s in SPLITS} | {"card.md", "baselines.json", "provenance.json"}


def test_schema_holds_the_architecture_columns(frames):
    for splits in frames.values():
        for split, frame in splits.items():
            for column, dtype in ARCHITECTURE_COLUMNS.items():
                assert frame.schema[column] == dtype, (split, column)
            assert frame["id"].n_unique() == frame.height
            assert set(frame["split"]) == {split}
            assert frame["id"].to_list() == sorted(frame["id"].to_list())


def test_rerun_is_byte_identical(synthesized, small_config, tmp_path):
    synthesize(small_config, tmp_path)
    for agent in small_config["agents"]:
        for path in sorted((synthesized / agent["name"]).iterdir()):
            assert path.read_bytes() == (tmp_path / agent["name"] / path.name).read_bytes(), path


def test_cli_for_one_agent_gives_the_same_test_splits(synthesized, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(SMALL_CONFIG))
    assert cli_main(["synthesize", "--config", str(config), "--out", str(tmp_path / "out"), "--agent", "moralis"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["moralis"]
    for split in SPLITS:
        name = f"moralis/{split}.parquet"
        assert (tmp_path / "out" / name).read_bytes() == (synthesized / name).read_bytes(), split


def test_more_test_items_change_no_training_item(synthesized, tmp_path):
    # A trained agent can be scored on a larger test draw (config/embedded-gpu.yaml's n_test) without retraining.
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**SMALL_CONFIG, "data": {**SMALL_CONFIG["data"], "n_test": 45}}))
    assert cli_main(["synthesize", "--config", str(config), "--out", str(tmp_path / "out"), "--agent", "moralis"]) == 0
    for split in ("train", "validation"):
        name = f"moralis/{split}.parquet"
        assert (tmp_path / "out" / name).read_bytes() == (synthesized / name).read_bytes(), split
    assert pl.read_parquet(tmp_path / "out" / "moralis/test_payoffs.parquet").height == 45


def test_provenance_records_file_hashes_and_seed(synthesized, small_config):
    record = json.loads((synthesized / "moralis" / "provenance.json").read_text())
    assert record["seed"] == small_config["seed"] and record["agent"] == "moralis"
    for name, digest in record["files"].items():
        assert sha256_file(synthesized / "moralis" / name) == digest


# -- answers: theory, ties, targets --------------------------------------------------------------------------------


def test_every_answer_is_the_theory_best_response(frames, small_config):
    margin = small_config["data"]["tie_margin"]
    preferences = {a["name"]: preference_from_config(a) for a in small_config["agents"]}
    checked = 0
    for agent, _, row in _rows(frames):
        game, belief = _game_and_belief(row)
        preference = preferences[agent]
        assert (row["preference"], row["kappa"]) == (preference.name, preference.kappa)
        if row["optimal_action"] is None:
            continue
        checked += 1
        if belief is None:
            equilibria = symmetric_equilibria(game, preference)
            assert equilibria.is_pure and equilibria.unique.action == row["optimal_action"]
            assert is_symmetric_equilibrium(game, preference, row["optimal_action"], resolution=200)
        else:
            assert best_response(game, preference, belief).action == row["optimal_action"]
            assert is_best_response(game, preference, belief, row["optimal_action"])
        # Tie rule, recomputed from utilities: the answer beats every other option by the margin.
        against = row["optimal_action"] if belief is None else belief
        utilities = {a: preference.utility(game, a, against) for a in game.actions}
        runner_up = max(u for a, u in utilities.items() if a != row["optimal_action"])
        assert utilities[row["optimal_action"]] - runner_up >= margin * game.payoff_range - 1e-9
        assert row["utility_gap"] >= margin
    assert checked > 300


def test_missing_answers_only_where_the_theory_has_none(frames, small_config):
    margin = small_config["data"]["tie_margin"]
    preferences = {a["name"]: preference_from_config(a) for a in small_config["agents"]}
    missing = 0
    for agent, split, row in _rows(frames):
        if row["optimal_action"] is None:
            assert split == "test_families"
            game, belief = _game_and_belief(row)
            assert predicted_action(game, preferences[agent], belief, min_margin=margin) is None
            assert row["target"] is None and row["label_optimal"] is None
            missing += 1
    assert missing > 0  # held-out families include games without an answer (e.g. the ultimatum for economicus)


def test_targets_start_with_the_decision_line_of_the_answer(frames):
    for _, _, row in _rows(frames):
        if row["optimal_action"] is None:
            continue
        options = json.loads(row["options"])
        label = next(o["label"] for o in options if o["action"] == row["optimal_action"])
        assert row["label_optimal"] == label
        assert row["target"].splitlines()[0] == decision_line(label)
        assert parse_decision(row["target"], [o["label"] for o in options], reasoning_first=False) == label


def test_prompt_states_the_stored_belief(frames):
    for _, _, row in _rows(frames):
        game, belief = _game_and_belief(row)
        text = json.loads(row["messages"])[-1]["content"]
        if belief is None:
            assert row["convention"] == "same_type" and row["belief"] is None
            continue
        assert row["belief"] == pytest.approx(belief[0])
        counts = json.loads(row["belief_counts"])
        assert sum(counts) == HISTORY
        count = TEMPLATES[row["template"]].count
        for option in json.loads(row["options"]):
            k = counts[game.actions.index(option["action"])]
            assert count.format(label=option["label"], k=k) in text, (text, option, k)


# -- balance ------------------------------------------------------------------------------------------------------


def test_answers_are_balanced_per_family(frames):
    for agent, splits in frames.items():
        for split in ("train", "test_payoffs"):
            frame = splits[split].filter(pl.col("n_options") == 2)
            for (family,), group in frame.group_by("family"):
                first = [
                    row["optimal_action"] == game_from_params(family, row["params"]).actions[0]
                    for row in group.iter_rows(named=True)
                ]
                listed_first = [
                    json.loads(o)[0]["action"] == a
                    for o, a in zip(group["options"], group["optimal_action"], strict=True)
                ]
                assert 0.35 <= np.mean(listed_first) <= 0.65, (agent, split, family)
                if agent == "economicus" and family == "prisoners_dilemma":
                    assert not any(first)  # D is dominant: no balance is possible
                else:
                    assert 0.3 <= np.mean(first) <= 0.7, (agent, split, family, np.mean(first))


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("economicus", "stag_hunt"),
        ("economicus", "chicken"),
        ("moralis", "prisoners_dilemma"),
        ("moralis", "stag_hunt"),
    ],
)
def test_answers_flip_with_both_belief_and_payoffs(frames, agent, family):
    # The answer must depend on the payoffs at a fixed belief, and on the belief for fixed payoffs.
    train = frames[agent]["train"].filter(pl.col("belief").is_not_null() & (pl.col("family") == family))
    by_belief = train.group_by("belief").agg(pl.col("optimal_action").n_unique().alias("answers"))
    assert (by_belief["answers"] > 1).any()
    assert (train["optimal_action"] != train["theory_ignoring_belief"]).mean() > 0.1


# -- splits -------------------------------------------------------------------------------------------------------


def test_test_splits_hold_the_same_items_for_every_agent(frames):
    economicus, moralis = frames["economicus"], frames["moralis"]
    for split in TEST_SPLITS:
        shared = [c for c in economicus[split].columns if c not in AGENT_COLUMNS]
        assert economicus[split].select(shared).equals(moralis[split].select(shared)), split
        assert not economicus[split]["optimal_action"].equals(moralis[split]["optimal_action"])


def test_splits_differ_along_their_own_axis(frames, small_config):
    data = small_config["data"]
    for splits in frames.values():
        train = splits["train"]
        situations = set(zip(train["family"], train["params"], train["belief_counts"], strict=True))
        validation = splits["validation"]
        assert not situations & set(
            zip(validation["family"], validation["params"], validation["belief_counts"], strict=True)
        )
        assert not set(train["params"]) & set(splits["test_payoffs"]["params"])
        assert set(splits["test_paraphrases"]["template"]) <= set(templates_for("pair", held_out=True))
        assert not set(train["template"]) & set(splits["test_paraphrases"]["template"])
        train_orders = {tuple(o["label"] for o in json.loads(x)) for x in train["options"]}
        label_orders = {tuple(o["label"] for o in json.loads(x)) for x in splits["test_labels"]["options"]}
        assert not train_orders & label_orders and ("B", "A") in label_orders
        assert set(splits["test_families"]["family"]) == set(data["families_test"])
        assert set(train["family"]) == set(data["families_train"])
        assert train.height == data["n_train"] and validation.height == data["n_validation"]


def test_baselines_match_rules_recomputed_from_the_rows(synthesized, frames):
    baselines = json.loads((synthesized / "economicus" / "baselines.json").read_text())
    for split, frame in frames["economicus"].items():
        scored = frame.filter(pl.col("optimal_action").is_not_null())
        first_listed = [
            json.loads(o)[0]["action"] == a for o, a in zip(scored["options"], scored["optimal_action"], strict=True)
        ]
        label_a = [min(json.loads(o), key=lambda x: x["label"])["action"] == a
                   for o, a in zip(scored["options"], scored["optimal_action"], strict=True)]  # fmt: skip
        overall = baselines[split]["overall"]
        assert overall["first_listed"] == pytest.approx(np.mean(first_listed), abs=1e-4)
        assert overall["label_a"] == pytest.approx(np.mean(label_a), abs=1e-4)
        second = [
            game_from_params(f, p).actions[1] == a
            for f, p, a in scored.select("family", "params", "optimal_action").iter_rows()
        ]
        assert overall["second_action"] == pytest.approx(np.mean(second), abs=1e-4)


# -- config and building blocks -----------------------------------------------------------------------------------


def test_data_section_defaults_and_bounds():
    data = validate_config({})["data"]
    assert data["tie_margin"] == 0.02 and data["families_train"] == ["prisoners_dilemma", "stag_hunt", "chicken"]
    for bad in ({"n_train": 0}, {"tie_margin": -1}, {"families_train": ["poker"]}, {"label_sets": ["AB"]}, {"x": 1}):
        with pytest.raises(ConfigError, match="data"):
            validate_config({"data": bad})


def test_overlapping_families_are_refused(tmp_path):
    with pytest.raises(ValueError, match="overlap"):
        synthesize({"data": {"families_test": ["chicken"]}}, tmp_path)


def test_a_payoff_range_with_an_empty_held_out_partition_names_the_keys(tmp_path):
    # Under seed 0 none of the 14 prisoner's dilemma classes of [0, 6] is hashed out (and 3 of the 26 of [0, 7]).
    narrow = {"data": {"payoff_max": 6, "test_payoff_max": 6, "n_train": 6, "n_validation": 3, "n_test": 3}}
    with pytest.raises(ConfigError) as error:
        synthesize(narrow, tmp_path, agent="economicus")
    message = str(error.value)
    assert message.startswith("data/payoff_max: the prisoners_dilemma games with payoffs in [0, 6] form 14 strategic")
    assert "data/held_out_payoff_fraction 0.25 under seed 0" in message and "split test_payoffs" in message


def test_a_split_the_candidates_cannot_fill_fails_naming_the_keys():
    # 100 visited candidates hold 127 or fewer decision problems: 510 cannot be drawn, and a short split is refused.
    config = validate_config(
        {"data": {"n_train": 500, "n_validation": 10, "max_candidates": 100, "families_train": ["prisoners_dilemma"]}}
    )
    with pytest.raises(ConfigError) as error:
        draw_training_items(config, "economicus")
    message = str(error.value)
    assert message.startswith("split train: family prisoners_dilemma has ")
    assert "where 510 are asked for (data/n_train + data/n_validation" in message and "data/max_candidates" in message


@pytest.mark.parametrize("name", ["config/config.yaml", "config/embedded-gpu.yaml", "config/paper-scale.yaml"])
def test_shipped_studies_can_draw_the_training_items_they_ask_for(name, repo_root):
    config = load_config(repo_root / name)
    drawn = draw_training_items(config, config["agents"][1]["name"])  # moralis, kappa 0.5
    assert {split: len(items) for split, items in drawn.items()} == {
        "train": config["data"]["n_train"],
        "validation": config["data"]["n_validation"],
    }


def test_game_space_refuses_a_range_it_cannot_enumerate():
    with pytest.raises(ValueError, match=r"payoff range \[-100, 100\] is wider than MAX_PAYOFF_RANGE \(50\)"):
        game_space("stag_hunt", low=-100, high=100)


@pytest.mark.parametrize("family", ["prisoners_dilemma", "stag_hunt", "chicken", "harmony", "coordination"])
def test_game_space_is_every_game_of_the_family(family):
    games = game_space(family, low=0, high=6)
    grid = [(t, r, p, s) for t in range(7) for r in range(7) for p in range(7) for s in range(7)]
    expected = {g for g in grid if family_of(*g) == family}
    assert {(g.T, g.R, g.P, g.S) for g in games} == expected


def test_held_out_partition_is_seeded_and_splits_strategic_classes():
    games = game_space("stag_hunt", low=0, high=10)
    held = [is_held_out(0, g, fraction=0.25) for g in games]
    assert held == [is_held_out(0, g, fraction=0.25) for g in games]
    assert held != [is_held_out(1, g, fraction=0.25) for g in games]
    by_class: dict[str, set[bool]] = {}
    for game, out in zip(games, held, strict=True):
        by_class.setdefault(strategic_key(game), set()).add(out)
    assert all(len(sides) == 1 for sides in by_class.values())  # a class is held out whole
    assert len(by_class) < len(games)  # rescaled and shifted copies share a class
    assert 0.18 < np.mean([out for (out,) in by_class.values()]) < 0.32


def test_held_out_payoffs_pose_no_rescaled_or_shifted_training_game(frames):
    """(10, 6, 2, 0) poses the decision of (5, 3, 1, 0) to both theories; unseen payoffs must be unseen up to that."""
    from econalign.theory.games import GAMES

    def keys(rows):
        return {strategic_key(GAMES[f](**json.loads(p))) for f, p in zip(rows["family"], rows["params"], strict=True)}

    for splits in frames.values():
        trained = keys(pl.concat([splits["train"], splits["validation"]]))
        held_out = keys(splits["test_payoffs"])
        assert held_out and not held_out & trained


def test_greedy_select_reaches_feasible_targets():
    rng = np.random.default_rng(0)
    features = (rng.random((400, 3)) < np.array([0.9, 0.2, 0.5])).astype(float)
    features[rng.random(400) < 0.3, 2] = np.nan
    chosen = greedy_select(features, n=60, targets=np.array([0.5, 0.5, 0.5]), weights=np.ones(3))
    assert len(set(chosen)) == 60
    assert np.allclose(np.nanmean(features[chosen], axis=0), 0.5, atol=0.03)


def test_balanced_orders_and_choices():
    rng = np.random.default_rng(0)
    keys = [("C",)] * 7 + [("D",)] * 10
    orders = balanced_orders(keys, rng)
    for key in set(keys):
        firsts = [order == (0, 1) for order, k in zip(orders, keys, strict=True) if k == key]
        assert abs(sum(firsts) - len(firsts) / 2) <= 0.5
    counts = Counter(balanced_choices(["a", "b", "c"], 10, rng))
    assert sorted(counts.values()) == [3, 3, 4]


def test_dataset_same_type_answers_are_the_theory_predictions():
    """The dataset's same-type answer and `theory.predicted_action` are one rule (the AV stage uses the latter)."""
    from econalign.data.draws import Situation, decide
    from econalign.theory import HomoEconomicus, HomoMoralis, predicted_action

    preferences = [HomoEconomicus(), *(HomoMoralis(kappa=k) for k in (0.1, 0.3, 0.5, 0.9))]
    compared = answered = 0
    for family in ("prisoners_dilemma", "stag_hunt", "chicken", "coordination"):
        for game in game_space(family, low=0, high=6):
            for preference in preferences:
                mine = decide(Situation(game, None), preference, min_margin=0.02).action
                assert mine == predicted_action(game, preference, min_margin=0.02), (game, preference)
                compared, answered = compared + 1, answered + (mine is not None)
    assert compared > 200 and 0 < answered < compared


# -- same-type answers against the homo moralis equilibrium condition written out (SCIENCE.md) ----------------------
# x, y = probabilities of C (own, rival). u(x', y) = (1 - kappa) pi(x', y) + kappa pi(x', x') is quadratic in x':
# a x'^2 + b(y) x' + const with a = kappa (R - S - T + P), b(y) = kappa (S + T - 2P) + (1 - kappa) (y (R - T) +
# (1 - y)(S - P)). A symmetric equilibrium x* maximises u(., x*) on [0, 1]: a pure x* is checked against the
# quadratic's maximum; an interior one solves 2 a x + b(x) = 0, i.e. x0 = -alpha / beta with
# alpha = kappa (S + T - 2P) + (1 - kappa)(S - P), beta = (1 + kappa)(R - S - T + P), and needs a <= 0.

BORDERLINE = 1e-9


def _moralis_u(payoffs, kappa, x, y):
    t, r, p, s = payoffs
    material = x * y * r + x * (1 - y) * s + (1 - x) * y * t + (1 - x) * (1 - y) * p
    kantian = x * x * r + x * (1 - x) * (s + t) + (1 - x) ** 2 * p
    return (1 - kappa) * material + kappa * kantian


def _closed_form_equilibria(payoffs, kappa):
    """Symmetric equilibria as Pr(C), and whether a continuum of them exists."""
    t, r, p, s = payoffs
    span = max(payoffs) - min(payoffs)
    a = kappa * (r - s - t + p)

    def best_value(y):
        b = kappa * (s + t - 2 * p) + (1 - kappa) * (y * (r - t) + (1 - y) * (s - p))
        candidates = [0.0, 1.0] + ([-b / (2 * a)] if a < 0 and 0 < -b / (2 * a) < 1 else [])
        return max(_moralis_u(payoffs, kappa, c, y) for c in candidates)

    found = [x for x in (1.0, 0.0) if _moralis_u(payoffs, kappa, x, x) >= best_value(x) - 1e-9 * span]
    alpha = kappa * (s + t - 2 * p) + (1 - kappa) * (s - p)
    beta = (1 + kappa) * (r - s - t + p)
    if beta == 0:
        return found, alpha == 0  # u(., y) is then flat for every y when alpha = 0: every x is an equilibrium
    x0 = -alpha / beta
    if BORDERLINE < x0 < 1 - BORDERLINE and a <= 0:
        found.append(x0)
    return found, False


def _closed_form_same_type_answer(payoffs, kappa, margin):
    """The project's same-type rule from the closed form: the unique symmetric equilibrium, pure, a best reply to
    itself by the margin, the other action beaten against itself by the margin. ``"borderline"`` where a gap is
    the margin itself (rounding decides)."""
    span = max(payoffs) - min(payoffs)
    pure = {"C": 1.0, "D": 0.0}
    u = {(x, y): _moralis_u(payoffs, kappa, pure[x], pure[y]) for x in "CD" for y in "CD"}
    equilibria, continuum = _closed_form_equilibria(payoffs, kappa)
    for star, other in (("C", "D"), ("D", "C")):
        gaps = (u[star, star] - u[other, star], u[star, other] - u[other, other])
        if any(abs(gap - margin * span) < BORDERLINE for gap in gaps):
            return "borderline"
        if all(gap >= margin * span for gap in gaps) and not continuum and equilibria == [pure[star]]:
            return star
    return None


def test_closed_form_same_type_equilibria_match_the_science_sheet_and_nashpy():
    """The reference above, checked first: SCIENCE.md's prisoner's dilemma thresholds and its interior example, and
    for kappa = 0 the symmetric Nash equilibria that nashpy enumerates (non-degenerate games)."""
    import nashpy

    for game in game_space("prisoners_dilemma", low=0, high=6):
        t, r, p, s = game.T, game.R, game.P, game.S
        # SCIENCE.md's thresholds are the first-order ones, global where pi(x, x) is concave (R + P <= S + T); else
        # the best deviation is the other pure action (docs/theory.md).
        cooperate, defect = (
            ((t - r) / (r - s), (p - s) / (t - p)) if r + p <= s + t else ((t - r) / (t - p), (p - s) / (r - s))
        )
        for kappa in (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0):
            equilibria, _ = _closed_form_equilibria((t, r, p, s), kappa)
            if abs(kappa - cooperate) > 1e-9:
                assert (1.0 in equilibria) == (kappa >= cooperate), (game, kappa)
            if abs(kappa - defect) > 1e-9:
                assert (0.0 in equilibria) == (kappa <= defect), (game, kappa)
    equilibria, continuum = _closed_form_equilibria((5, 3, 1, 0), 0.5)
    assert equilibria == [pytest.approx(2 / 3)] and not continuum
    compared = 0
    for family in ("prisoners_dilemma", "stag_hunt", "chicken", "harmony", "coordination"):
        for game in game_space(family, low=0, high=6):
            t, r, p, s = game.T, game.R, game.P, game.S
            if r == t or s == p:
                continue  # degenerate: support enumeration may miss equilibria
            row = np.array([[r, s], [t, p]], dtype=float)
            symmetric = sorted(
                float(x[0]) for x, y in nashpy.Game(row, row.T).support_enumeration() if np.allclose(x, y)
            )
            ours, continuum = _closed_form_equilibria((t, r, p, s), 0.0)
            assert not continuum and sorted(ours) == pytest.approx(symmetric, abs=1e-9), game
            compared += 1
    assert compared > 300


def test_same_type_rule_matches_the_closed_form_over_whole_game_spaces():
    """``decide`` (what the datasets' same-type answers come from) against the closed form, every 2x2 game with
    payoffs 0..6 and seven kappas: the same answer, and no answer exactly where the closed form has none."""
    from econalign.data.draws import Situation, decide
    from econalign.theory import HomoEconomicus, HomoMoralis

    tally = Counter()
    for family in ("prisoners_dilemma", "stag_hunt", "chicken", "harmony", "coordination"):
        for game in game_space(family, low=0, high=6):
            payoffs = (game.T, game.R, game.P, game.S)
            for kappa in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
                expected = _closed_form_same_type_answer(payoffs, kappa, 0.02)
                if expected == "borderline":
                    tally["borderline"] += 1
                    continue
                preference = HomoEconomicus() if kappa == 0 else HomoMoralis(kappa=kappa)
                assert decide(Situation(game, None), preference, min_margin=0.02).action == expected, (game, kappa)
                tally[expected] += 1
    assert tally["C"] > 100 and tally["D"] > 100 and tally[None] > 100
    assert tally["borderline"] < 0.05 * sum(tally.values())


def test_dataset_same_type_answers_are_the_closed_form_equilibria(frames, small_config):
    """Every same-type item of every split and agent: its answer is the closed form's unique pure equilibrium."""
    margin = small_config["data"]["tie_margin"]
    kappas = {a["name"]: float(a.get("kappa", 0.0)) for a in small_config["agents"]}
    checked = Counter()
    for agent, split, row in _rows(frames):
        if row["belief_counts"] is not None:
            continue
        assert row["family"] in ("prisoners_dilemma", "stag_hunt", "chicken", "harmony", "coordination")
        params = json.loads(row["params"])
        expected = _closed_form_same_type_answer(tuple(params[k] for k in "TRPS"), kappas[agent], margin)
        assert row["optimal_action"] == expected, (agent, split, row["params"])
        checked[agent, expected] += 1
    assert {agent for agent, _ in checked} == set(kappas)
    assert checked["moralis", "C"] > 0 and checked["moralis", "D"] > 0


def test_same_type_share_and_unseen_label_sets_follow_the_config(frames, small_config):
    data = small_config["data"]
    for agent, splits in frames.items():
        # Train and validation are drawn together and then split, so the share holds over the two.
        drawn = pl.concat([splits["train"], splits["validation"]])
        for family, part in drawn.group_by("family"):
            same_type = part["belief_counts"].null_count()
            wanted = round(data["same_type_fraction"] * part.height)
            # Families where the theory answers every same-type game get exactly their share; others fewer.
            assert same_type <= wanted, (agent, family)
            if family[0] == "prisoners_dilemma":
                assert same_type == wanted > 0, agent
        allowed = {tuple(letters) for letters in data["label_sets_unseen"]} | {
            tuple(letters) for letters in data["label_sets"]
        }
        for options in splits["test_labels"]["options"]:
            labels = [o["label"] for o in json.loads(options)]
            assert any(set(labels) <= set(letters) for letters in allowed)
        unseen_letters = set("".join(data["label_sets_unseen"]))
        assert any(set(json.loads(o)[0]["label"]) <= unseen_letters for o in splits["test_labels"]["options"])


def test_a_stage_config_records_only_the_sections_it_was_given(tmp_path):
    # What Snakemake passes: the data section (and the common keys); the card and provenance must not show the
    # defaults validation fills in for finetune, pricing, ... as if the study had used them.
    given = {key: SMALL_CONFIG[key] for key in ("seed", "data") if key in SMALL_CONFIG}
    assert (
        cli_main(["synthesize", "--config-json", json.dumps(given), "--out", str(tmp_path), "--agent", "moralis"]) == 0
    )
    record = json.loads((tmp_path / "moralis" / "provenance.json").read_text())
    assert sorted(record["config"]) == sorted(given)
    assert record["config_hash"] in (tmp_path / "moralis" / "card.md").read_text()


def test_same_type_items_always_have_an_answer(frames):
    """SCIENCE.md: a same-type item without a unique pure equilibrium is not posed as a discrete choice, even in the
    held-out families that may keep "no prediction" items (coordination games have two equilibria for economicus)."""
    same_type_in_coordination = 0
    for splits in frames.values():
        for split, rows in splits.items():
            same_type = rows.filter(pl.col("belief_counts").is_null())
            assert same_type["optimal_action"].null_count() == 0, split
            same_type_in_coordination += same_type.filter(pl.col("family") == "coordination").height
    assert same_type_in_coordination == 0  # economicus has no unique answer in any coordination game


def test_held_out_families_hold_no_renamed_training_game(frames, small_config):
    """Prompts show neutral labels in either order, so (T, R, P, S) with C and D renamed, (S, P, R, T), is the same
    question; a held-out 2x2 game must not be a training family's game renamed."""
    from econalign.theory.games import family_of

    trained = set(small_config["data"]["families_train"])
    checked = 0
    for splits in frames.values():
        for params in splits["test_families"].filter(pl.col("family").is_in(["harmony", "coordination"]))["params"]:
            p = json.loads(params)
            assert family_of(p["S"], p["P"], p["R"], p["T"]) not in trained, p
            checked += 1
    assert checked > 0


def _swapped_share(frame: pl.DataFrame) -> float:
    """Share of the rows whose option letters are listed in descending order (B before A)."""
    letters = [[o["label"] for o in json.loads(options)] for options in frame["options"]]
    return float(np.mean([labels != sorted(labels) for labels in letters]))


def test_training_on_swapped_label_orders_is_a_switch(frames, small_config, tmp_path):
    agent = small_config["agents"][0]["name"]
    default = frames[agent]
    assert _swapped_share(pl.concat([default["train"], default["validation"]])) == 0  # ascending letters only
    config = validate_config({**SMALL_CONFIG, "data": {**SMALL_CONFIG["data"], "train_swapped_labels": True}})
    synthesize(config, tmp_path, agent=agent)
    swapped = {split: pl.read_parquet(tmp_path / agent / f"{split}.parquet") for split in SPLITS}
    drawn = pl.concat([swapped["train"], swapped["validation"]])
    assert 0.4 <= _swapped_share(drawn) <= 0.6
    # The same decision problems and answers; only the letters' order moved. The test splits do not change at all.
    for split in ("train", "validation"):
        for column in ("params", "belief", "optimal_action", "template"):
            assert swapped[split][column].to_list() == default[split][column].to_list(), (split, column)
    for split in TEST_SPLITS:
        assert swapped[split].drop("seed").equals(default[split].drop("seed")), split
