"""Build the items of one dataset split: draw candidates, keep those the theory answers, balance, present.

For each family of a split: draw a pool of candidate situations from the split's payoff space, ask the theory for
every agent's answer, drop items without one (where the split requires it), select a balanced subset with
``greedy_select``, then choose the presentation: option order (answer first in half the items), template and label
set (each used equally often).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from econalign.config import ConfigError
from econalign.data.balance import balanced_choices, balanced_orders, greedy_select
from econalign.data.baselines import majority_answers
from econalign.data.draws import (
    Decision,
    Situation,
    SituationSpace,
    decide,
    game_space,
    is_held_out,
    same_type_allowed,
    strategic_key,
)
from econalign.data.templates import template_kind, templates_for
from econalign.theory.games import Game
from econalign.theory.preferences import Preference

__all__ = ["ANSWER_WEIGHT", "DEFINED_WEIGHT", "Item", "SplitSpec", "build_items", "family_sizes"]

_BATCH = 64
"""Candidates visited between two checks of the stopping rule."""

ANSWER_WEIGHT = 4.0
"""Weight of the 50/50 balance of first and second action in the balance objective (the flip rates weigh 1)."""

DEFINED_WEIGHT = 100.0
"""Weight of "the theory answers this item" in the balance objective where undefined items are allowed."""


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """How one split is drawn.

    Attributes:
        name: Split name.
        families: Game families, each getting an equal share of ``n``.
        n: Number of items.
        payoffs: ``"train"`` (the training partition of payoffs), ``"held_out"`` (never trained on: the held-out
            partition and anything above the training range) or ``"all"``.
        payoff_high: Largest 2x2 payoff drawn.
        held_out_templates: Use the paraphrases reserved for the unseen-paraphrase split.
        label_sets: ``(letters, swapped)`` pairs: an item with K options is labelled with the first K letters,
            listed in reverse order when ``swapped``.
        require_answer: Keep only items the theory answers for every agent (else prefer them). Same-type items
            always need an answer for every agent.
    """

    name: str
    families: tuple[str, ...]
    n: int
    payoffs: str
    payoff_high: int
    held_out_templates: bool
    label_sets: tuple[tuple[str, bool], ...]
    require_answer: bool = True


@dataclasses.dataclass(frozen=True)
class Item:
    """A selected, presented item with every agent's answer.

    Attributes:
        id: Unique within the split; identical across agents.
        split: Split name.
        situation: Game and belief.
        decisions: Agent name -> the theory's decision.
        template: Template name.
        labels: Labels in presentation order.
        order: Action indices in presentation order.
    """

    id: str
    split: str
    situation: Situation
    decisions: dict[str, Decision]
    template: str
    labels: tuple[str, ...]
    order: tuple[int, ...]


def family_sizes(n: int, families: Sequence[str]) -> dict[str, int]:
    """Split ``n`` items evenly over families (the first families get the remainder).

    Example:
        >>> family_sizes(10, ["a", "b", "c"])
        {'a': 4, 'b': 3, 'c': 3}
    """
    return {f: n // len(families) + (i < n % len(families)) for i, f in enumerate(families)}


def item_id(split: str, family: str, index: int, count: int) -> str:
    """An item's id, ``{split}-{family}-{index}``, the index zero-padded so that ids sort in index order.

    Example:
        >>> item_id("train", "chicken", 7, 160), item_id("train", "chicken", 7, 20000)
        ('train-chicken-0007', 'train-chicken-00007')
    """
    width = max(4, len(str(count - 1)))
    return f"{split}-{family}-{index:0{width}d}"


def build_items(
    spec: SplitSpec,
    agents: dict[str, Preference],
    rng: np.random.Generator,
    *,
    seed: int,
    data: dict,
    progress: Callable[[], object] | None = None,
) -> list[Item]:
    """Draw, select and present the items of one split.

    Args:
        spec: The split.
        agents: Agent name -> preference; every agent's answer is computed (test splits: all configured agents).
        rng: Random generator of this split.
        seed: The configuration's seed (for the held-out payoff partition).
        data: The resolved ``data`` configuration section.
        progress: Called after each family (e.g. a progress bar's ``update``).

    Returns:
        The items, family by family.
    """
    items: list[Item] = []
    for family, n in family_sizes(spec.n, spec.families).items():
        games = _games(spec, family, seed=seed, data=data)
        chosen = _select(games, n, spec, agents, rng, data=data)
        if len(chosen) < n:
            raise ConfigError(_shortfall(spec, family, found=len(chosen), wanted=n))
        items += _present(chosen, spec, family, agents, rng)
        if progress is not None:
            progress()
    return items


def _shortfall(spec: SplitSpec, family: str, *, found: int, wanted: int) -> str:
    # A split that silently came out smaller than configured would change every rate computed from it.
    size = "data/n_train + data/n_validation" if spec.name == "train" else "data/n_test"
    return (
        f"split {spec.name}: family {family} has {found} distinct decision problems with an answer where {wanted} are "
        f"asked for ({size}, shared among the families); ask for fewer items, or visit more candidates "
        "(data/max_candidates) over a wider payoff range (data/payoff_min, data/payoff_max, data/test_payoff_max)"
    )


def _games(spec: SplitSpec, family: str, *, seed: int, data: dict) -> tuple[Game, ...]:
    games = game_space(family, low=data["payoff_min"], high=spec.payoff_high)
    if spec.payoffs == "all":
        return games

    # A game is trained on exactly when its strategic class is: the class is not hashed out and has a member in the
    # training range. So held-out payoffs pose no rescaled or shifted training game, and a game beyond the training
    # range is held out unless a copy of it inside the range is trained.
    fraction = data["held_out_payoff_fraction"]
    trained = {
        strategic_key(game)
        for game in game_space(family, low=data["payoff_min"], high=data["payoff_max"])
        if not is_held_out(seed, game, fraction=fraction)
    }
    keep = tuple(g for g in games if (strategic_key(g) not in trained) == (spec.payoffs == "held_out"))
    if not keep:
        # Which classes are held out depends on the seed, so a narrow range can pass validation and still leave a
        # partition empty; the keys to change are the user's to fix.
        classes = len({strategic_key(g) for g in games})
        raise ConfigError(
            f"data/payoff_max: the {family} games with payoffs in [{data['payoff_min']}, {spec.payoff_high}] form "
            f"{classes} strategic classes, and data/held_out_payoff_fraction {fraction} under seed {seed} leaves "
            f"none of them in the {spec.payoffs} partition that split {spec.name} draws from; widen the payoff range "
            "(data/payoff_min, data/payoff_max, data/test_payoff_max) or change data/held_out_payoff_fraction"
        )
    return keep


def _select(
    games: Sequence[Game], n: int, spec: SplitSpec, agents: dict[str, Preference], rng: np.random.Generator, *, data
) -> list[tuple[Situation, dict[str, Decision]]]:
    flip_target = data["flip_target"]

    def pick(wanted: int, *, same_type: bool, before: Sequence = ()) -> list[tuple[Situation, dict[str, Decision]]]:
        pool = _pool(SituationSpace(games, same_type=same_type), wanted, spec, agents, rng, data=data)
        features, targets, weights = _features(pool, agents, flip_target=flip_target)
        selected = _features(before, agents, flip_target=flip_target)[0]
        chosen = greedy_select(features, n=wanted, targets=targets, weights=weights, selected=selected)
        return [pool[i] for i in chosen]

    n_same = round(data["same_type_fraction"] * n) if same_type_allowed(games[0]) else 0
    same = pick(n_same, same_type=True) if n_same else []
    # Stated-belief items balance the answers together with the same-type ones, and make up a short same-type pool
    # (e.g. a family without a unique pure equilibrium).
    return same + pick(n - len(same), same_type=False, before=same)


def _pool(
    space: SituationSpace,
    wanted: int,
    spec: SplitSpec,
    agents: dict[str, Preference],
    rng: np.random.Generator,
    *,
    data: dict,
) -> list[tuple[Situation, dict[str, Decision]]]:
    """Candidates with every agent's decision, visited in random order until the pool is large and balanced.

    Stated beliefs: stop once the pool holds ``pool_factor * wanted`` candidates and, in two-action games, every
    agent has at least half that many of each answer (rare answers need a long search; an answer never seen in
    four pool sizes counts as impossible), or after ``max_candidates`` visits. Same type, where a candidate costs an
    equilibrium computation: stop at twice ``wanted``.
    """
    if wanted <= 0 or not len(space):
        return []
    size = (2 if space.same_type else data["pool_factor"]) * wanted
    two_actions = all(game.n_actions == 2 for game in space.games)
    quota = size // 2 if two_actions and not space.same_type else 0
    answers: Counter = Counter()
    pool = []
    order = rng.permutation(len(space))[: data["max_candidates"]]
    for start in range(0, len(order), _BATCH):
        for index in order[start : start + _BATCH]:
            situation = space[int(index)]
            decisions = {}
            for name, preference in agents.items():
                decisions[name] = decide(situation, preference, min_margin=data["tie_margin"])
                # A same-type item without a unique pure equilibrium for some agent has no discrete answer to pose
                # (SCIENCE.md); held-out families may otherwise keep "no prediction" items (the role games).
                if (spec.require_answer or space.same_type) and decisions[name].action is None:
                    break
            else:
                pool.append((situation, decisions))
                answers.update((name, d.index) for name, d in decisions.items())
        # An answer still unseen after many visits is taken to be impossible (e.g. C for homo economicus in the
        # prisoner's dilemma) rather than rare, and stops holding up the search.
        visited = start + _BATCH
        balanced = all(
            answers[(name, a)] >= quota or (answers[(name, a)] == 0 and visited >= 4 * size)
            for name in agents
            for a in (0, 1)
        )
        if len(pool) >= size and balanced:
            break
    return pool


def _features(
    pool: Sequence[tuple[Situation, dict[str, Decision]]], agents: dict[str, Preference], *, flip_target: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per agent: answer is the first action, flips with the belief, flips with the payoffs; answer defined."""
    # The payoff-blind answer at a belief: the most common answer of the pool at that belief.
    blind = majority_answers(
        ((name, situation.counts), decision.action)
        for situation, decisions in pool
        for name, decision in decisions.items()
        if situation.counts is not None and decision.action is not None
    )
    rows = []
    for situation, decisions in pool:
        row = []
        for name in agents:
            decision = decisions[name]
            defined = decision.action is not None
            stated = situation.counts is not None and defined
            row += [
                float(decision.index == 0) if defined and situation.game.n_actions == 2 else np.nan,
                float(decision.action != decision.ignoring_belief) if stated else np.nan,
                float(decision.action != blind[(name, situation.counts)]) if stated else np.nan,
                float(defined),
            ]
        rows.append(row)
    per_agent_targets = [0.5, flip_target, flip_target, 1.0]
    per_agent_weights = [ANSWER_WEIGHT, 1.0, 1.0, DEFINED_WEIGHT]
    features = np.array(rows, dtype=np.float64).reshape(len(pool), 4 * len(agents))
    return features, np.tile(per_agent_targets, len(agents)), np.tile(per_agent_weights, len(agents))


def _present(
    chosen: Sequence[tuple[Situation, dict[str, Decision]]],
    spec: SplitSpec,
    family: str,
    agents: dict[str, Preference],
    rng: np.random.Generator,
) -> list[Item]:
    if not chosen:
        return []
    # Two options: balanced so that every agent's answer is listed first in half the items; else a random order.
    two = [i for i, (situation, _) in enumerate(chosen) if situation.game.n_actions == 2]
    keys = [tuple(-1 if d.index is None else d.index for d in chosen[i][1].values()) for i in two]
    orders: list[tuple[int, ...]] = [tuple(int(a) for a in rng.permutation(s.game.n_actions)) for s, _ in chosen]
    for i, order in zip(two, balanced_orders(keys, rng), strict=True):
        orders[i] = order
    names = templates_for(template_kind(chosen[0][0].game), held_out=spec.held_out_templates)
    templates = balanced_choices(names, len(chosen), rng)
    label_sets = balanced_choices(spec.label_sets, len(chosen), rng)
    items = []
    for i, ((situation, decisions), order, template, (letters, swapped)) in enumerate(
        zip(chosen, orders, templates, label_sets, strict=True)
    ):
        k = situation.game.n_actions
        if len(letters) < k:
            raise ValueError(f"label set {letters!r} has fewer than the {k} options of {family}")
        labels = letters[:k][::-1] if swapped else letters[:k]
        items.append(
            Item(
                id=item_id(spec.name, family, i, len(chosen)),
                split=spec.name,
                situation=situation,
                decisions=decisions,
                template=template,
                labels=tuple(labels),
                order=tuple(order),
            )
        )
    return items
