"""The battery: the test items of the synthesized datasets, with every theory's view of each item.

Test splits hold the same items for every agent (same ``id``, ``messages``, ``options``), so the battery is read
once, from the first dataset found, and the same items score every agent and every reference rule. Each item gets
per-option columns (presentation order) for every theory, so scorers and metrics never call the solvers again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from econalign.data.synthesize import TEST_SPLITS
from econalign.evaluate.predictions import COVARIATES, Theory, analyse, cooperation_levels, covariates
from econalign.io import MissingInputError
from econalign.theory import game_from_params
from econalign.theory.solvers import ignoring_belief

__all__ = [
    "ITEM_COLUMNS",
    "TEST_SPLITS",
    "add_theory_columns",
    "answer_mismatches",
    "game_key",
    "load_battery",
    "parse_counts",
    "select_items",
]


ITEM_COLUMNS = ("id", "split", "family", "params", "belief", "belief_counts", "template", "options", "messages")
"""Dataset columns the battery reads; everything agent-specific (preference, target, ...) is ignored."""


def game_key(family: str, params: Mapping[str, Any] | str, counts: Sequence[int] | None) -> str:
    """Identifier of a decision problem independent of its presentation (template, labels, order).

    Example:
        >>> game_key("prisoners_dilemma", {"T": 5, "R": 3, "P": 1, "S": 0}, (3, 7)) == game_key(
        ...     "prisoners_dilemma", '{"S": 0.0, "P": 1, "R": 3, "T": 5}', [3, 7])
        True
    """
    game = game_from_params(family, params)
    canonical = json.dumps([family, game.params(), None if counts is None else list(counts)], sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def parse_counts(text: str | None) -> tuple[int, ...] | None:
    """The dataset's ``belief_counts`` (JSON list or null) as a tuple.

    Example:
        >>> parse_counts("[3, 7]"), parse_counts(None)
        ((3, 7), None)
    """
    return None if text is None else tuple(int(c) for c in json.loads(text))


def load_battery(
    data_dir: str | Path, agents: Sequence[str], *, splits: Sequence[str] = TEST_SPLITS
) -> tuple[pl.DataFrame, dict[str, Any], dict[str, pl.DataFrame]]:
    """Read the test items from ``{data_dir}/{agent}/{split}.parquet`` and check that every agent's copy agrees.

    Args:
        data_dir: The synthesize results folder (``results/synthesize``).
        agents: Agents whose datasets may hold the items; the first one that exists is read. Every other one that
            exists is compared with it (ids, messages and options must match).
        splits: Test splits to read.

    Returns:
        The battery (one row per item: ``ITEM_COLUMNS`` plus ``labels``, ``actions``, ``game_key`` and
        ``source_id``, null here and the original's id for consistency probes), a data check ``{"source",
        "agents_compared", "mismatched_items"}``, and each available agent's answers (``split``, ``id``,
        ``optimal_action``).

    Raises:
        MissingInputError: If no agent's dataset holds the splits.
    """
    data_dir = Path(data_dir)
    available = [a for a in agents if all((data_dir / a / f"{s}.parquet").exists() for s in splits)]
    if not available:
        raise MissingInputError(
            f"no dataset under {data_dir} holds the test splits {list(splits)} (agents {agents}): run "
            "`econalign synthesize` (rule synthesize) first"
        )

    def read(agent: str) -> pl.DataFrame:
        frames = [
            pl.read_parquet(data_dir / agent / f"{s}.parquet").select([*ITEM_COLUMNS, "optimal_action"]) for s in splits
        ]
        return pl.concat(frames, how="vertical_relaxed")

    battery = read(available[0])
    answers = {available[0]: battery.select("split", "id", "optimal_action")}
    mismatched = 0
    for other in available[1:]:
        theirs = read(other)
        answers[other] = theirs.select("split", "id", "optimal_action")
        joined = battery.join(theirs, on=["split", "id"], how="full", suffix="_other", coalesce=True)
        same = (
            (joined["messages"] == joined["messages_other"]) & (joined["options"] == joined["options_other"])
        ).fill_null(False)
        mismatched += int((~same).sum())
    battery = battery.drop("optimal_action")
    options = [json.loads(text) for text in battery["options"]]
    keys = [
        game_key(f, p, parse_counts(c))
        for f, p, c in zip(battery["family"], battery["params"], battery["belief_counts"], strict=True)
    ]
    battery = battery.with_columns(
        pl.Series("labels", [[o["label"] for o in opts] for opts in options], dtype=pl.List(pl.String)),
        pl.Series("actions", [[o["action"] for o in opts] for opts in options], dtype=pl.List(pl.String)),
        pl.Series("game_key", keys, dtype=pl.String),
        pl.lit(None, dtype=pl.String).alias("source_id"),
        pl.col("belief").cast(pl.Float64),
    ).sort(["split", "id"])
    check = {"source": available[0], "agents_compared": available[1:], "mismatched_items": mismatched}
    return battery, check, answers


def answer_mismatches(battery: pl.DataFrame, answers: pl.DataFrame, theory: str) -> int:
    """Items where a dataset's ``optimal_action`` differs from the battery's ``pred_<theory>`` (null-aware).

    Args:
        battery: Items with theory columns (``add_theory_columns``).
        answers: One agent's ``split``, ``id``, ``optimal_action``.
        theory: The agent's theory name.

    Returns:
        The number of battery items whose answers differ; 0 means the dataset and the battery agree everywhere.
    """
    joined = battery.select("split", "id", f"pred_{theory}").join(answers, on=["split", "id"], how="inner")
    same = joined[f"pred_{theory}"].eq_missing(joined["optimal_action"])
    return int((~same).sum())


def select_items(battery: pl.DataFrame, *, max_items_per_split: int, seed: int) -> pl.DataFrame:
    """Keep at most ``max_items_per_split`` items of each split, a seeded choice that does not depend on the agent.

    Games are ranked by a hash of (seed, game key), the same in every split, and each split keeps its items in
    that order up to the cap, so a game chosen in one split is preferred in the others.

    Args:
        battery: Output of ``load_battery``.
        max_items_per_split: Cap per split; 0 keeps every item.
        seed: The configuration's seed.

    Returns:
        The selected items, sorted by split and id.
    """
    if max_items_per_split <= 0:
        return battery
    rank = [
        hashlib.sha256(f"{seed}|{key}|{item}".encode()).hexdigest()
        for key, item in zip(battery["game_key"], battery["id"], strict=True)
    ]
    game_rank = {key: hashlib.sha256(f"{seed}|{key}".encode()).hexdigest() for key in battery["game_key"]}
    ranked = battery.with_columns(
        pl.Series("_game_rank", [game_rank[k] for k in battery["game_key"]]), pl.Series("_rank", rank)
    )
    kept = (
        ranked.sort(["split", "_game_rank", "_rank"])
        .with_columns(pl.int_range(pl.len()).over("split").alias("_position"))
        .filter(pl.col("_position") < max_items_per_split)
    )
    return kept.drop("_game_rank", "_rank", "_position").sort(["split", "id"])


def add_theory_columns(battery: pl.DataFrame, theories: Sequence[Theory], *, min_margin: float) -> pl.DataFrame:
    """Add, per item, cooperation levels, covariates and each theory's view, per option in presentation order.

    Columns added: ``coop_levels`` (list), ``x_temptation``, ``x_belief``, ``x_mpcr``, ``payoff_range``, and per
    theory ``pred_<theory>`` (predicted action or null), ``utilities_<theory>`` (list), ``theory_probs_<theory>``
    (list, the theory's strategy) and ``belief_pivotal_<theory>`` (the item states a belief and the theory's answer
    differs from its answer at a uniform belief, the reference rule ``ignoring_belief_<theory>``: only an agent that
    reads the belief can be right there; null without a stated belief or an answer).

    Args:
        battery: Items with ``family``, ``params``, ``belief``, ``belief_counts`` and ``actions``.
        theories: The theories to add.
        min_margin: The dataset's tie rule (``data.tie_margin``).

    Returns:
        The battery with the new columns.
    """
    columns: dict[str, list[Any]] = {"coop_levels": [], "payoff_range": []}
    columns.update({f"x_{name}": [] for name in COVARIATES})
    for theory in theories:
        for prefix in ("pred", "utilities", "theory_probs", "belief_pivotal"):
            columns[f"{prefix}_{theory.name}"] = []
    rows = battery.select("family", "params", "belief", "belief_counts", "actions").iter_rows()
    for family, params, belief, counts, actions in rows:
        game = game_from_params(family, params)
        counts = parse_counts(counts)
        order = [game.action_index(a) for a in actions]
        columns["coop_levels"].append([float(v) for v in cooperation_levels(game)[order]])
        columns["payoff_range"].append(float(game.payoff_range))
        for name, value in covariates(game, belief).items():
            columns[f"x_{name}"].append(value)
        for theory in theories:
            view = analyse(game, theory.preference, counts, min_margin=min_margin)
            columns[f"pred_{theory.name}"].append(view.predicted)
            columns[f"utilities_{theory.name}"].append([view.utilities[a] for a in order])
            columns[f"theory_probs_{theory.name}"].append([view.probabilities[a] for a in order])
            stated = counts is not None and view.predicted is not None
            pivotal = view.predicted != ignoring_belief(game, theory.preference) if stated else None
            columns[f"belief_pivotal_{theory.name}"].append(pivotal)
    series = []
    for name, values in columns.items():
        if name.startswith("pred_"):
            dtype: Any = pl.String
        elif name.startswith("belief_pivotal_"):
            dtype = pl.Boolean
        elif name.startswith(("utilities_", "theory_probs_")) or name == "coop_levels":
            dtype = pl.List(pl.Float64)
        else:
            dtype = pl.Float64
        series.append(pl.Series(name, values, dtype=dtype, nan_to_null=False))
    return battery.with_columns(series)
