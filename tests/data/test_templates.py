import itertools
import math
import re

import numpy as np
import pytest

from econalign.data.reasoning import render_target
from econalign.data.templates import (
    TEMPLATES,
    belief_counts,
    decision_line,
    format_number,
    parse_decision,
    render_item,
    template_kind,
    templates_for,
)
from econalign.theory import (
    Chicken,
    Dictator,
    HomoEconomicus,
    HomoMoralis,
    PrisonersDilemma,
    PublicGoods,
    StagHunt,
    Trust,
    Ultimatum,
    best_response,
)

PD = PrisonersDilemma(T=5, R=3, P=1, S=0)
GAMES = [
    PD,
    StagHunt(T=3, R=4, P=2, S=0),
    Chicken(T=4, R=3, P=0, S=1),
    PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=2),
    Dictator(pie=10, n_levels=3),
    Ultimatum(pie=10, n_levels=2),
    Trust(endowment=10, multiplier=3, n_levels=2),
]
PREFERENCES = [HomoEconomicus(), HomoMoralis(kappa=0.5), HomoMoralis(kappa=0.25)]


def _user(item):
    (system, user) = item.messages
    assert (system["role"], user["role"]) == ("system", "user")
    return user["content"]


# -- decision format ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", list("ABJKXYPQ"))
def test_decision_lines_share_a_prefix_and_differ_only_in_the_label(label):
    line, other = decision_line(label), decision_line("Z")
    common = len(line) - 1
    assert line[:common] == other[:common] and line[-1] == label
    assert parse_decision(line, [label, "Z"]) == label


@pytest.mark.parametrize("bad", ["a", "AB", "", "1", " B"])
def test_decision_line_rejects_labels_that_are_not_one_capital(bad):
    with pytest.raises(ValueError):
        decision_line(bad)


@pytest.mark.parametrize(
    ("text", "reasoning_first", "expected"),
    [
        ("Answer: B\nB gives more points.", False, "B"),
        ("Answer: B\nB gives more points.", None, "B"),
        ("Answer: B\nB gives more points.", True, None),
        ("B gives more points.\nAnswer: B", True, "B"),
        ("B gives more points.\nAnswer: B\n", None, "B"),
        ("B gives more points.\nAnswer: B", False, None),
        ("  Answer: A  \n", False, "A"),
        ("Answer: A\nAnswer: B", None, None),  # two different answers
        ("Answer: C\nthe rest", None, None),  # not an option
        ("Answer: B.", None, None),  # stray punctuation
        ("answer: B", None, None),  # case matters
        ("Answer:B", None, "B"),  # the space after the colon may be missing
        ("Answer:  B", None, None),  # but not doubled
        ("I pick B", None, None),
        ("", None, None),
        ("Answer: A\nmiddle\nAnswer: A", True, "A"),  # repeated, consistent
    ],
)
def test_parse_decision_is_strict(text, reasoning_first, expected):
    assert parse_decision(text, ["A", "B"], reasoning_first=reasoning_first) == expected


# -- rendering ---------------------------------------------------------------------------------------------------


def test_pair_table_follows_the_payoff_convention():
    # Row player's payoffs of the prisoner's dilemma written out by hand: R = (C, C), S = (C, D), T = (D, C),
    # P = (D, D); D is listed first under label A, so A/A is mutual defection.
    item = render_item(PD, belief=0.3, template="pair_plain", labels=["A", "B"], order=[1, 0], reasoning_first=False)
    text = _user(item)
    for row in ["A / A: 1, 1", "A / B: 5, 0", "B / A: 0, 5", "B / B: 3, 3"]:
        assert row in text.splitlines()
    # P(first action C) = 0.3, C is labelled B.
    assert "chose A 7 times and B 3 times" in text
    assert item.options == [{"label": "A", "action": "D"}, {"label": "B", "action": "C"}]


def test_group_table_matches_hand_computed_earnings():
    game = PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=2)
    item = render_item(game, belief=0.6, template="group_plain", labels=["X", "Y"], order=[1, 0], reasoning_first=False)
    text = _user(item)
    for j in range(4):  # j of the 3 others contribute 10: contributing earns 0.5 * 10 (j + 1), keeping 10 + 5 j
        assert f"{j} of them choose X: X gives you {5 * (j + 1)}, Y gives you {10 + 5 * j}" in text
    assert "each of the other players chose X 4 times and Y 6 times" in text


def test_options_follow_order_and_labels_for_every_kind():
    rng = np.random.default_rng(0)
    for game in GAMES:
        k = game.n_actions
        order = [int(a) for a in rng.permutation(k)]
        labels = list("PQRS"[:k])
        names = templates_for(template_kind(game), held_out=False)
        item = render_item(game, belief=None, template=names[0], labels=labels, order=order, reasoning_first=True)
        assert [o["action"] for o in item.options] == [game.actions[a] for a in order]
        assert [o["label"] for o in item.options] == labels
        text = _user(item)
        # The format instruction names every option's decision line.
        assert all(f'"{decision_line(label)}"' in text for label in labels)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_prompts_do_not_hint_at_a_preference(name):
    banned = r"moral|kant|selfish|altru|fair|cooperat|defect|dilemma|prisoner|stag|chicken|kappa|economicus|utility"
    template = TEMPLATES[name]
    for game in GAMES:
        if template_kind(game) != template.kind:
            continue
        k = game.n_actions
        for belief in (None, np.full(k, 1.0 / k) if k != 3 else [0.2, 0.3, 0.5]):
            item = render_item(
                game, belief=belief, template=name, labels=list("ABCD"[:k]), order=range(k), reasoning_first=False
            )
            text = " ".join(m["content"] for m in item.messages).lower()
            assert re.search(banned, text) is None, (name, game)


def test_each_kind_has_training_and_held_out_paraphrases():
    for kind in ("pair", "group"):
        train, held_out = templates_for(kind, held_out=False), templates_for(kind, held_out=True)
        assert train and held_out and not set(train) & set(held_out)
        texts = {
            name: _user(render_item(GAMES[0] if kind == "pair" else GAMES[3], belief=0.5, template=name,
                                    labels=["A", "B"], order=[0, 1], reasoning_first=False))
            for name in train + held_out
        }  # fmt: skip
        assert len(set(texts.values())) == len(texts)


def test_render_rejects_inconsistent_arguments():
    with pytest.raises(ValueError):
        render_item(PD, belief=0.3, template="group_plain", labels=["A", "B"], order=[0, 1], reasoning_first=False)
    with pytest.raises(ValueError):
        render_item(PD, belief=0.3, template="pair_plain", labels=["A", "A"], order=[0, 1], reasoning_first=False)
    with pytest.raises(ValueError):
        render_item(PD, belief=0.3, template="pair_plain", labels=["A", "B"], order=[0, 0], reasoning_first=False)
    with pytest.raises(ValueError):
        render_item(PD, belief=1 / 3, template="pair_plain", labels=["A", "B"], order=[0, 1], reasoning_first=False)


@pytest.mark.parametrize(("belief", "counts"), [(0.3, (3, 7)), (0.0, (0, 10)), (0.35, (7, 13)), (0.07, (7, 93))])
def test_belief_counts_state_the_belief_exactly(belief, counts):
    assert belief_counts(PD, belief) == counts
    assert counts[0] / sum(counts) == pytest.approx(belief)


def test_belief_counts_refuse_beliefs_no_short_record_states():
    with pytest.raises(ValueError):
        belief_counts(PD, 0.123)


def test_format_number():
    assert [format_number(x) for x in (2.0, 2.5, 1 / 3, 2 / 3, -1.5, 1e-9, 12.345)] == [
        "2", "2.5", "0.33", "0.67", "-1.5", "0", "12.35",
    ]  # fmt: skip


# -- utility-implied reasoning ------------------------------------------------------------------------------------


def test_moralis_reasoning_shows_the_weighted_values():
    # Hand computation, PD 5/3/1/0, belief P(C) = 0.3, kappa = 0.5:
    # expected C = 0.3*3 + 0.7*0 = 0.9, D = 0.3*5 + 0.7*1 = 2.2; same C = 3, D = 1;
    # value C = 0.5*0.9 + 0.5*3 = 1.95, D = 0.5*2.2 + 0.5*1 = 1.6, so C.
    target = render_target(
        PD, HomoMoralis(kappa=0.5), belief=0.3, labels=["A", "B"], order=[0, 1], answer="C", reasoning_first=False
    )
    lines = target.splitlines()
    assert lines[0] == decision_line("A")
    assert "A = 0.3*3 + 0.7*0 = 0.9" in target and "B = 0.3*5 + 0.7*1 = 2.2" in target
    assert "A = 0.5*0.9 + 0.5*3 = 1.95" in target and "B = 0.5*2.2 + 0.5*1 = 1.6" in target
    assert lines[-1] == "A is best: 1.95 > 1.6."


def test_same_type_reasoning_names_the_only_stable_choice():
    # Economicus in the PD: against C, D pays 5 > 3; against D, D pays 1 > 0: only D is a best reply to itself.
    target = render_target(
        PD, HomoEconomicus(), belief=None, labels=["J", "K"], order=[1, 0], answer="D", reasoning_first=True
    )
    lines = target.splitlines()
    assert lines[-1] == decision_line("J")
    assert "If the other picks J: J gives 1, K gives 0; so J is a best reply to itself." in lines
    assert "If the other picks K: J gives 5, K gives 3; so K is not." in lines


def test_same_type_moralis_reasoning_states_both_terms_of_the_utility():
    # kappa = 0.75 in the PD: against C, C is worth 3 and D 0.25*5 + 0.75*1 = 2; against D, C is worth
    # 0.25*0 + 0.75*3 = 2.25 and D 1: only C is a best reply to itself.
    target = render_target(
        PD, HomoMoralis(kappa=0.75), belief=None, labels=["A", "B"], order=[0, 1], answer="C", reasoning_first=True
    )
    lines = target.splitlines()
    assert "Value = 0.25*(my points against their pick) + 0.75*(my points if the other picks the same as me)." in lines
    assert "If the other picks A: A is worth 3, B is worth 2; so A is a best reply to itself." in lines
    assert "If the other picks B: A is worth 2.25, B is worth 1; so B is not." in lines
    assert lines[-1] == decision_line("A")


@pytest.mark.parametrize("reasoning_first", [False, True])
def test_targets_parse_back_to_the_theory_answer(reasoning_first):
    rng = np.random.default_rng(1)
    checked = 0
    for game, preference in itertools.product(GAMES, PREFERENCES):
        k = game.n_actions
        counts = rng.multinomial(10, np.full(k, 1.0 / k))
        belief = counts / 10
        response = best_response(game, preference, belief)
        if response.margin < 0.02:
            continue
        checked += 1
        order = [int(a) for a in rng.permutation(k)]
        labels = list("WXYZ"[:k])
        target = render_target(
            game, preference, belief=belief, labels=labels, order=order, answer=response.action,
            reasoning_first=reasoning_first,
        )  # fmt: skip
        expected = labels[order.index(response.index)]
        assert parse_decision(target, labels, reasoning_first=reasoning_first) == expected
        assert decision_line(expected) in target.splitlines()
        short = render_target(
            game, preference, belief=belief, labels=labels, order=order, answer=response.action,
            reasoning_first=reasoning_first, reasoning=False,
        )  # fmt: skip
        assert short == decision_line(expected)
    assert checked >= len(GAMES) * len(PREFERENCES) // 2


def test_target_refuses_an_answer_the_utilities_do_not_imply():
    with pytest.raises(ValueError):
        render_target(
            PD, HomoEconomicus(), belief=0.3, labels=["A", "B"], order=[0, 1], answer="C", reasoning_first=False
        )
    with pytest.raises(ValueError):  # same type: C is not a best reply to itself for homo economicus
        render_target(
            PD, HomoEconomicus(), belief=None, labels=["A", "B"], order=[0, 1], answer="C", reasoning_first=False
        )


def test_counted_moralis_reasoning_matches_a_hand_computation():
    # PD 5/3/1/0, the other cooperated 3 of 10 times, kappa = 0.5 (labels: A = C, B = D):
    # mine A = 3*3 + 7*0 = 9, B = 3*5 + 7*1 = 22; same A = 10*3 = 30, B = 10*1 = 10;
    # value A = 0.5*9 + 0.5*30 = 19.5, B = 0.5*22 + 0.5*10 = 16, so A (10x the per-game values 1.95 and 1.6).
    target = render_target(
        PD, HomoMoralis(kappa=0.5), belief=0.3, labels=["A", "B"], order=[0, 1], answer="C", reasoning_first=True,
        numbers="counts",
    )  # fmt: skip
    assert target.splitlines() == [
        "In their last 10 games the other picked A 3 times and B 7 times.",
        "My points against those 10 games: A = 3*3 + 7*0 = 9 + 0 = 9; B = 3*5 + 7*1 = 15 + 7 = 22.",
        "My points if the other picked the same as me all 10 times: A = 10*3 = 30; B = 10*1 = 10.",
        "Value = 0.5*mine + 0.5*same: A = 0.5*9 + 0.5*30 = 19.5; B = 0.5*22 + 0.5*10 = 16.",
        "A is best: 19.5 > 16.",
        decision_line("A"),
    ]


_ARITHMETIC = re.compile(r"[A-Z] = ([0-9.*+= ]+?)(?=;\s|\.(?:\s|$))")


@pytest.mark.parametrize(
    "preference", [HomoEconomicus(), HomoMoralis(kappa=0.5), HomoMoralis(kappa=0.25), HomoMoralis(kappa=0.125)]
)
def test_counted_arithmetic_is_right_and_ranks_as_the_theory(preference):
    rng = np.random.default_rng(7)
    checked = 0
    for game, belief, response in _decisive_draws(preference, rng, per_family=40):
        order = [int(a) for a in rng.permutation(2)]
        target = render_target(
            game, preference, belief=belief, labels=["X", "Y"], order=order, answer=response.action,
            reasoning_first=True, numbers="counts",
        )  # fmt: skip
        chains = _ARITHMETIC.findall(target)
        assert len(chains) == (2 if preference.name == "economicus" else 6), target
        for chain in chains:  # every "a*b + c*d = e + f = g" holds
            values = [_sum_of_products(part) for part in chain.split(" = ")]
            assert np.allclose(values, values[0]), chain
        assert parse_decision(target, ["X", "Y"], reasoning_first=True) == "XY"[order.index(response.index)]
        checked += 1
    assert checked > 60


@pytest.mark.parametrize("kappa", [0.25, 0.5, 0.75, 0.125, 0.0625])
def test_decimal_arithmetic_adds_up_exactly_as_written(kappa):
    # Weights of a quarter give three or four decimals (0.75*1.5 = 1.125), and an eighth is a weight of three
    # decimals itself (0.875*...), a sixteenth one of four: the written sums must still hold.
    rng = np.random.default_rng(11)
    preference = HomoMoralis(kappa=kappa)
    chains_checked = 0
    for game, belief, response in _decisive_draws(preference, rng, per_family=30):
        target = render_target(
            game, preference, belief=belief, labels=["X", "Y"], order=[0, 1], answer=response.action,
            reasoning_first=True,
        )  # fmt: skip
        for chain in _ARITHMETIC.findall(target):
            if "*" not in chain:
                continue
            values = [_sum_of_products(part) for part in chain.split(" = ")]
            assert np.allclose(values, values[0], rtol=0.0, atol=1e-9), chain
            chains_checked += 1
    assert chains_checked > 100


def _decisive_draws(preference, rng, *, per_family):
    """Random 2x2 games of the training families with a stated belief where the theory's answer is decisive."""
    for family in (PrisonersDilemma, StagHunt, Chicken):
        for _ in range(per_family):
            game = _random_game(family, rng)
            belief = int(rng.integers(0, 11)) / 10
            response = best_response(game, preference, np.array([belief, 1 - belief]))
            if response.margin >= 0.02:
                yield game, belief, response


def _sum_of_products(text):
    return sum(math.prod(float(factor) for factor in term.split("*")) for term in text.split(" + "))


def _random_game(family, rng):
    while True:
        T, R, P, S = (int(v) for v in rng.integers(0, 11, size=4))
        try:
            return family(T=T, R=R, P=P, S=S)
        except ValueError:
            continue


def test_unknown_number_style_is_refused():
    with pytest.raises(ValueError, match="numbers"):
        render_target(
            PD,
            HomoEconomicus(),
            belief=0.3,
            labels=["A", "B"],
            order=[0, 1],
            answer="D",
            reasoning_first=True,
            numbers="fractions",
        )
