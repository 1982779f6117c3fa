"""The dataset card: a markdown summary written beside each agent's splits.

It records what the data hold (items per family, split and label set; templates), how balanced the answers are,
what simple rules score, the conventions behind every answer, and what made it (seed, config hash, versions).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from econalign import __version__
from econalign.data.baselines import RULES
from econalign.data.templates import DECISION_PREFIX, HISTORY
from econalign.io import config_hash

__all__ = ["COLUMNS", "CONVENTIONS", "dataset_card"]

CONVENTIONS: tuple[str, ...] = (
    "**Preferences.** Homo economicus maximises own material payoff pi(x, y). Homo moralis with degree of morality "
    "kappa maximises (1 - kappa) pi(x, y) + kappa pi(x, x) (Alger & Weibull 2013; n players: each other player is "
    "a copy of oneself with probability kappa, Alger & Weibull 2016). Answers come from `econalign.theory`.",
    f"**Stated belief.** The prompt gives the other player's choices in their last {HISTORY} games as counts per "
    f"option; the belief is count / {HISTORY} (column `belief` = P(first action), `belief_counts` in action order). "
    "In n-player games every other player has that record and chooses independently. The answer is the best pure "
    "response to the belief under the agent's utility.",
    "**Same type.** The prompt says the other player reasons exactly like you (`belief` is null). The answer is the "
    "symmetric equilibrium x* in argmax u(x, x*); an item is kept only if that equilibrium is unique and pure and "
    "every other pure choice fails decisively to be a best reply to itself (2x2 games only).",
    "**Role games** (dictator, ultimatum, trust): each player is equally likely to hold either role and an option is "
    "a plan for both roles; the payoff table shows points averaged over the two roles.",
    "**Tie rule.** An answer must beat the runner-up by at least `tie_margin` of the game's payoff range (max minus "
    "min payoff); items without such an answer are dropped, except in test_families, where they are kept with a "
    "null `optimal_action` and `target` (the theory gives no prediction).",
    "**Labels.** Options carry one capital letter each, taken in order from a label set (`label_sets`); the option "
    "order is randomised so that the answer is listed first in half the items. test_labels uses unseen label sets "
    "(`label_sets_unseen`) and the training sets in swapped order (e.g. B listed before A); with "
    "`train_swapped_labels`, half the train and validation items list their letters in swapped order too.",
    "**Payoffs.** 2x2 payoffs are integers from `payoff_min` to `payoff_max` satisfying the family's ordering; a "
    "seeded hash holds `held_out_payoff_fraction` of the strategic classes (payoffs up to rescaling and shifting, "
    "which change no answer; a public goods game up to its endowment) out of training for test_payoffs, which also "
    "draws payoffs up to `test_payoff_max` and so poses no training game rescaled or shifted. Other families use "
    "fixed parameter grids. Families under renamed actions: harmony requires R > P and coordination R > S, so that "
    "neither holds a prisoner's dilemma or stag hunt with C and D swapped.",
    "**Balance.** Within each family and split, items are picked from a larger pool so that the answer is the "
    "first action in about half the items, and differs from the theory at a uniform belief (flips with the belief) "
    "and from the split's most common answer at the same belief (flips with the payoffs) in about `flip_target` of "
    "the stated-belief items. Test splits hold the same items for every agent and need an answer for all of them.",
    f"**Targets.** The decision line `{DECISION_PREFIX}<label>` comes first (last when `reasoning_first`), with the "
    "utility-implied reasoning: the belief as probabilities, each option's expected points, for homo moralis the "
    "points if the other(s) chose the same and the kappa-weighted value, then the comparison. With "
    "`reasoning_numbers: counts`, 2x2 points are summed over the other's past games in whole numbers instead.",
)
"""Conventions documented in every card (one paragraph each)."""

COLUMNS: dict[str, str] = {
    "id": "item id, identical across agents for test splits",
    "split": "split name",
    "family": "game family (econalign.theory.games)",
    "params": "game parameters as a JSON object (T, R, P, S for 2x2 games; C is the first action)",
    "convention": '"belief" (stated belief) or "same_type"',
    "belief": "P(other picks the first action); null for same_type",
    "belief_counts": f"JSON list: the other player's choices per action (action order) in {HISTORY} games",
    "agent": "agent name",
    "preference": '"economicus" or "moralis"',
    "kappa": "degree of morality (0 for economicus)",
    "options": 'JSON list of {"label", "action"} in presentation order',
    "n_options": "number of options",
    "optimal_action": "the theory's answer (null where it has none)",
    "label_optimal": "label of the answer",
    "utility_gap": "utility gap between the answer and the runner-up, as a fraction of the payoff range",
    "utilities": "JSON object: utility of each action (against the belief, or against the equilibrium)",
    "theory_ignoring_belief": "the agent's best response to a uniform belief",
    "messages": "JSON list of chat messages (system, user), without the answer",
    "target": "the reply to train on: decision line and utility-implied reasoning",
    "template": "prompt template name",
    "seed": "the seed the split was drawn with",
}
"""Meaning of every dataset column."""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if value is None:
            return "–"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def _problems(frame: pl.DataFrame) -> list[tuple[str, ...]]:
    # What a decision depends on; wording, labels and option order are left out.
    return list(frame.select("family", "params", "convention", "belief_counts").iter_rows())


def _label_set(options: str) -> str:
    return "".join(option["label"] for option in json.loads(options))


def dataset_card(
    frames: Mapping[str, pl.DataFrame],
    *,
    agent: str,
    config: Mapping[str, Any],
    baselines: Mapping[str, Any],
    statistics: Mapping[str, Any],
    version: str,
) -> str:
    """Render the dataset card of one agent.

    Args:
        frames: Split name -> the agent's rows.
        agent: Agent name.
        config: The resolved configuration.
        baselines: Split name -> ``split_baselines`` output.
        statistics: Split name -> ``split_statistics`` output.
        version: The dataset generator's version.

    Returns:
        Markdown text.
    """
    data = config["data"]
    spec = next(a for a in config["agents"] if a["name"] == agent)
    preference = spec["preference"] + (
        f", kappa = {spec.get('kappa', 0.0):g}" if spec["preference"] == "moralis" else ""
    )
    lines = [
        f"# Dataset card: econalign games for agent `{agent}`",
        "",
        f"- Agent: `{agent}` (homo {preference})",
        f"- Generator: econalign {__version__}, dataset version {version}",
        f"- Seed: {config['seed']}; configuration hash: `{config_hash(config)}`",
        "- Files: " + ", ".join(f"`{split}.parquet`" for split in frames) + ", `baselines.json`, `provenance.json`",
        "- Agents sharing the test items: " + ", ".join(f"`{a['name']}`" for a in config["agents"]),
        "",
        "## Splits",
        "",
    ]
    rows = []
    for split, frame in frames.items():
        templates = ", ".join(sorted(set(frame["template"].to_list())))
        labels = ", ".join(sorted({_label_set(o) for o in frame["options"].to_list()}))
        rows.append([split, frame.height, baselines[split]["n_scored"], templates, labels])
    lines += _table(["split", "items", "with an answer", "templates", "label orders"], rows)
    families = sorted({f for frame in frames.values() for f in frame["family"].to_list()})
    counts = {split: Counter(frame["family"].to_list()) for split, frame in frames.items()}
    lines += ["", "## Items per family and split", ""]
    lines += _table(["family", *frames], [[f, *(counts[s].get(f, 0) for s in frames)] for f in families])
    lines += ["", "## Items per label order and split", ""]
    label_counts = {split: Counter(map(_label_set, frame["options"].to_list())) for split, frame in frames.items()}
    orders = sorted(set().union(*label_counts.values()), key=lambda s: (len(s), s))
    lines += _table(["labels", *frames], [[o, *(label_counts[s].get(o, 0) for s in frames)] for o in orders])
    if "train" in frames:
        lines += ["", "## Decision problems shared with the training data", ""]
        lines += [
            "Items whose decision problem (family, payoffs, convention and stated belief) also occurs in the train or",
            "validation split, in other words or under other labels. test_payoffs draws payoffs outside the training",
            "space, up to rescaling and shifting, and shares none; test_paraphrases and test_labels draw from the",
            "training space on purpose (only the wording or the labels are new), so a share of their problems recurs;",
            "test_families uses other games.",
            "",
        ]
        seen = {split: set(_problems(frames[split])) for split in ("train", "validation") if split in frames}
        rows = []
        for split, frame in frames.items():
            if split not in seen:
                problems = _problems(frame)
                rows.append([split, frame.height, *(sum(p in known for p in problems) for known in seen.values())])
        lines += _table(["split", "items", *(f"problem in {split}" for split in seen)], rows)
    lines += ["", "## Balance of the answers", ""]
    lines += [
        "Shares among items with an answer: the answer is the first action; it is listed first; the item is same-type;",
        "among stated-belief items: the answer differs from the theory at a uniform belief (flips with the belief) and",
        "from the most common answer at the same belief in the split (flips with the payoffs).",
        "",
    ]
    keys = ["n", "n_scored", "first_action", "listed_first", "same_type", "flips_with_belief", "flips_with_payoffs"]
    rows = [
        [split, family, *(stats[k] for k in keys)] for split in frames for family, stats in statistics[split].items()
    ]
    lines += _table(["split", "family", *keys], rows)
    lines += ["", "## Baselines: accuracy against this agent's theory", ""]
    lines += [f"- `{rule}`: {text}" for rule, text in RULES.items()]
    lines += [""]
    lines += _table(["split", *RULES], [[s, *(baselines[s]["overall"][r] for r in RULES)] for s in frames])
    lines += ["", "## Conventions", ""]
    lines += [f"- {text}" for text in CONVENTIONS]
    lines += ["", "## Columns", ""]
    lines += [f"- `{name}`: {text}" for name, text in COLUMNS.items()]
    lines += ["", "## Data settings (`data:` section of the configuration)", "", "```json"]
    lines += [json.dumps(data, sort_keys=True, indent=2), "```", ""]
    return "\n".join(lines)
