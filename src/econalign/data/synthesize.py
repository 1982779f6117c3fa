"""Synthesize the datasets: for each agent, six parquet splits, baselines.json, card.md and provenance.json.

Splits (``SPLITS``): ``train`` and ``validation`` (drawn per agent, balanced for that agent's answers) and four test
splits drawn from a seed that does not depend on the agent, so every agent's test file holds the same items (same
``id``, ``messages`` and ``options``) and differs only in the agent's answers: ``test_payoffs`` (payoffs never
trained on), ``test_paraphrases`` (held-out templates), ``test_labels`` (unseen and swapped label sets) and
``test_families`` (families never trained on; the theory's answer where it has one, null where it has none).
Test items must have an answer for every configured agent (except in ``test_families``, where answered items are
preferred). Command line: ``econalign synthesize --config C --out DIR [--agent NAME] [--splits all|training|tests]``.

An agent's train and validation splits depend only on the seed, the ``data`` section and that agent's own entry; the
test splits, and so ``baselines.json``, ``card.md`` and ``provenance.json``, on every configured agent. ``--splits
training`` writes the former alone, ``--splits tests`` the rest (reading the training splits already written), so
that the workflow reruns no agent's training data, nor its fine-tuning, when another agent is added; the files are
the same bytes as ``--splits all`` (the default) writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm import tqdm

from econalign.config import StageConfig, agent_spec, validate_config
from econalign.data.baselines import split_baselines, split_statistics
from econalign.data.card import dataset_card
from econalign.data.reasoning import render_target
from econalign.data.splits import Item, SplitSpec, build_items, family_sizes, item_id
from econalign.data.templates import render_item
from econalign.io import (
    MissingInputError,
    derive_seed,
    provenance,
    sha256_file,
    write_json,
    write_parquet,
    write_text,
)
from econalign.theory.preferences import Preference, preference_from_config

__all__ = [
    "DATASET_SCHEMA",
    "DATASET_VERSION",
    "SPLITS",
    "SPLIT_GROUPS",
    "TEST_SPLITS",
    "TRAINING_SPLITS",
    "add_arguments",
    "agent_preferences",
    "draw_test_items",
    "draw_training_items",
    "item_frame",
    "main",
    "split_seed",
    "synthesize",
]

DATASET_VERSION = "1.0"
"""Version of the generator; bump it whenever the same seed and config would give different items."""

SPLITS = ("train", "validation", "test_payoffs", "test_paraphrases", "test_labels", "test_families")
TRAINING_SPLITS = SPLITS[:2]
TEST_SPLITS = SPLITS[2:]
SPLIT_GROUPS = ("all", "training", "tests")
"""What one ``synthesize`` call writes: every file, the training splits alone, or the rest (test splits and the
files that describe all six: baselines, card, provenance)."""

DATASET_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "split": pl.String,
    "family": pl.String,
    "params": pl.String,
    "convention": pl.String,
    "belief": pl.Float64,
    "belief_counts": pl.String,
    "agent": pl.String,
    "preference": pl.String,
    "kappa": pl.Float64,
    "options": pl.String,
    "n_options": pl.Int64,
    "optimal_action": pl.String,
    "label_optimal": pl.String,
    "utility_gap": pl.Float64,
    "utilities": pl.String,
    "theory_ignoring_belief": pl.String,
    "messages": pl.String,
    "target": pl.String,
    "template": pl.String,
    "seed": pl.Int64,
}
"""Columns and dtypes of every split (docs/architecture.md, plus the evaluation helpers after ``kappa``)."""

Progress = Callable[[], None]


def agent_preferences(config: dict[str, Any]) -> dict[str, Preference]:
    """Agent name -> preference, for every agent of a resolved config, in config order."""
    return {agent["name"]: preference_from_config(agent) for agent in config["agents"]}


def split_seed(seed: int, split: str, agent: str | None = None) -> int:
    """The seed a split is drawn from: test splits ignore the agent; train and validation share the agent's seed.

    Example:
        >>> split_seed(0, "test_labels", "economicus") == split_seed(0, "test_labels", "moralis")
        True
        >>> split_seed(0, "train", "economicus") == split_seed(0, "validation", "economicus")
        True
    """
    if split in TEST_SPLITS:
        return derive_seed(seed, "synthesize", split)
    if split not in SPLITS or agent is None:
        raise ValueError(f"split {split!r} needs an agent (splits: {SPLITS})")
    return derive_seed(seed, "synthesize", "train", agent)


def _specs(data: dict[str, Any]) -> dict[str, SplitSpec]:
    """How each split is drawn (train also holds validation, which is split off afterwards)."""
    seen_labels = tuple((letters, False) for letters in data["label_sets"])
    unseen_labels = tuple((letters, False) for letters in data["label_sets_unseen"])
    swapped_labels = tuple((letters, True) for letters in data["label_sets"])
    base = {
        "families": tuple(data["families_train"]),
        "n": data["n_test"],
        "payoffs": "train",
        "payoff_high": data["payoff_max"],
        "held_out_templates": False,
        "label_sets": seen_labels,
    }
    overrides: dict[str, dict[str, Any]] = {
        # Training on both orders unties each letter from a place in the list (test_labels then keeps the unseen sets
        # as its only new labels; its swapped sets are no longer new).
        "train": {
            "n": data["n_train"] + data["n_validation"],
            "label_sets": seen_labels + swapped_labels if data["train_swapped_labels"] else seen_labels,
        },
        "test_payoffs": {"payoffs": "held_out", "payoff_high": data["test_payoff_max"]},
        "test_paraphrases": {"held_out_templates": True},
        "test_labels": {"label_sets": unseen_labels + swapped_labels},
        "test_families": {"families": tuple(data["families_test"]), "payoffs": "all", "require_answer": False},
    }
    return {name: SplitSpec(name=name, **{**base, **changes}) for name, changes in overrides.items()}


def draw_test_items(config: dict[str, Any], *, progress: Progress | None = None) -> dict[str, list[Item]]:
    """The test splits' items, with every configured agent's answers; they do not depend on which agent is built.

    Args:
        config: A resolved configuration.
        progress: Called once per family drawn.

    Returns:
        Split name -> items.
    """
    data, seed = config["data"], config["seed"]
    agents = agent_preferences(config)
    specs = _specs(data)
    out = {}
    for split in TEST_SPLITS:
        rng = np.random.default_rng(split_seed(seed, split))
        out[split] = build_items(specs[split], agents, rng, seed=seed, data=data, progress=progress)
    return out


def draw_training_items(
    config: dict[str, Any], agent: str, *, progress: Progress | None = None
) -> dict[str, list[Item]]:
    """One agent's train and validation items: drawn together, balanced for the agent, then split per family.

    Args:
        config: A resolved configuration.
        agent: Agent name.
        progress: Called once per family drawn.

    Returns:
        ``{"train": items, "validation": items}``.
    """
    data, seed = config["data"], config["seed"]
    preference = preference_from_config(agent_spec(config, agent))
    rng = np.random.default_rng(split_seed(seed, "train", agent))
    items = build_items(_specs(data)["train"], {agent: preference}, rng, seed=seed, data=data, progress=progress)
    n_validation = family_sizes(data["n_validation"], data["families_train"])
    out: dict[str, list[Item]] = {"train": [], "validation": []}
    for family in data["families_train"]:
        mine = [item for item in items if item.situation.game.family == family]
        picked = set(rng.permutation(len(mine))[: n_validation[family]].tolist())
        members = {
            "validation": [item for i, item in enumerate(mine) if i in picked],
            "train": [item for i, item in enumerate(mine) if i not in picked],
        }
        for split, items_of_split in members.items():
            out[split] += [
                dataclasses.replace(item, split=split, id=item_id(split, family, i, len(items_of_split)))
                for i, item in enumerate(items_of_split)
            ]
    return out


def item_frame(
    items: Sequence[Item],
    agent: str,
    preference: Preference,
    *,
    seed: int,
    reasoning: bool,
    reasoning_first: bool,
    numbers: str = "probabilities",
) -> pl.DataFrame:
    """Render items as one agent's rows (``DATASET_SCHEMA``), sorted by id.

    Args:
        items: Items carrying ``agent``'s decision.
        agent: Agent name.
        preference: The agent's preference.
        seed: The split's seed (stored per row).
        reasoning: Targets include the utility-implied reasoning.
        reasoning_first: Reasoning before the decision line (prompt instruction and target).
        numbers: The reasoning's arithmetic (``data.reasoning_numbers``).

    Returns:
        The split as a DataFrame.
    """
    rows = []
    for item in items:
        game, counts, decision = item.situation.game, item.situation.counts, item.decisions[agent]
        belief = item.situation.belief
        rendered = render_item(
            game, belief=belief, template=item.template, labels=item.labels, order=item.order,
            reasoning_first=reasoning_first,
        )  # fmt: skip
        target = label = None
        if decision.action is not None:
            label = item.labels[item.order.index(decision.index)]
            target = render_target(
                game, preference, belief=belief, labels=item.labels, order=item.order, answer=decision.action,
                reasoning_first=reasoning_first, reasoning=reasoning, numbers=numbers,
            )  # fmt: skip
        rows.append(
            {
                "id": item.id,
                "split": item.split,
                "family": game.family,
                "params": json.dumps(game.params(), sort_keys=True),
                "convention": "same_type" if counts is None else "belief",
                "belief": None if belief is None else float(belief[0]),
                "belief_counts": None if counts is None else json.dumps(list(counts)),
                "agent": agent,
                "preference": preference.name,
                "kappa": float(preference.kappa),
                "options": json.dumps(rendered.options),
                "n_options": game.n_actions,
                "optimal_action": decision.action,
                "label_optimal": label,
                "utility_gap": None if decision.margin is None else round(decision.margin, 9),
                "utilities": json.dumps(
                    dict(zip(game.actions, (round(u, 9) for u in decision.utilities), strict=True))
                ),
                "theory_ignoring_belief": decision.ignoring_belief,
                "messages": json.dumps(rendered.messages),
                "target": target,
                "template": item.template,
                "seed": seed,
            }
        )
    return pl.DataFrame(rows, schema=DATASET_SCHEMA).sort("id")


def synthesize(
    config: dict[str, Any],
    out_dir: str | Path,
    *,
    agent: str | None = None,
    splits: str = "all",
    progress: bool = True,
) -> dict[str, list[Path]]:
    """Write every split of every agent (or of one agent) with its baselines, card and provenance.

    Args:
        config: A configuration (validated here; missing keys take their defaults).
        out_dir: Output folder; each agent's files go to ``out_dir/{agent}/``.
        agent: Build only this agent (its test splits are the same as when all agents are built).
        splits: ``all``; ``training`` (train and validation only: they need only the agent's own entry in
            ``config["agents"]``); or ``tests`` (the test splits, baselines, card and provenance, reading the training
            splits a ``training`` call wrote to ``out_dir/{agent}/``). ``training`` then ``tests`` write the same
            bytes as ``all``.
        progress: Show a progress bar (on stderr, once drawing takes over a second).

    Returns:
        Agent name -> paths written.

    Raises:
        MissingInputError: With ``splits="tests"``, when an agent's training splits are not in ``out_dir``.
    """
    if splits not in SPLIT_GROUPS:
        raise ValueError(f"splits must be one of {SPLIT_GROUPS}, not {splits!r}")
    resolved = validate_config(config)
    # A stage's config (StageConfig) keeps recording only the sections it was given.
    config = StageConfig(resolved, given=config.given) if isinstance(config, StageConfig) else resolved
    data = config["data"]
    names = [agent_spec(config, agent)["name"]] if agent is not None else [a["name"] for a in config["agents"]]
    drawn_tests, drawn_training = splits != "training", splits != "tests"
    # One progress step per family drawn: three training-family test splits, test_families, then each agent.
    total = (
        len(data["families_train"]) * ((len(TEST_SPLITS) - 1) * drawn_tests + len(names) * drawn_training)
        + len(data["families_test"]) * drawn_tests
    )
    # Missing training splits fail before the test splits are drawn, not after.
    read = {} if drawn_training else {name: _read_training(Path(out_dir) / name, name) for name in names}
    with tqdm(total=total, desc="synthesize", unit="family", delay=1.0, disable=not progress) as bar:
        tests = draw_test_items(config, progress=bar.update) if drawn_tests else {}
        written = {}
        for name in names:
            folder = Path(out_dir) / name
            if drawn_training:
                frames = _agent_frames(config, name, draw_training_items(config, name, progress=bar.update))
                written[name] = [write_parquet(folder / f"{split}.parquet", frames[split]) for split in frames]
            else:
                frames, written[name] = read[name], []
            if drawn_tests:
                frames |= _agent_frames(config, name, tests)
                written[name] += _write_tests(config, folder, name, frames)
    return written


def _agent_frames(config: dict[str, Any], agent: str, splits: dict[str, list[Item]]) -> dict[str, pl.DataFrame]:
    # The given splits as the agent's rows, in SPLITS order.
    data, seed = config["data"], config["seed"]
    preference = preference_from_config(agent_spec(config, agent))
    frames = {}
    for split in (split for split in SPLITS if split in splits):
        frames[split] = item_frame(
            splits[split], agent, preference, seed=split_seed(seed, split, agent),
            reasoning=data["reasoning"], reasoning_first=data["reasoning_first"], numbers=data["reasoning_numbers"],
        )  # fmt: skip
    return frames


def _read_training(folder: Path, agent: str) -> dict[str, pl.DataFrame]:
    # The training splits of an earlier `--splits training` call. The card and baselines describe these files, read
    # back exactly as written (parquet keeps every value and dtype), not a second draw of them.
    frames = {}
    for split in TRAINING_SPLITS:
        path = folder / f"{split}.parquet"
        if not path.is_file():
            raise MissingInputError(
                f"{path} is missing: write {agent}'s training splits first (econalign synthesize --splits training)"
            )
        frames[split] = pl.read_parquet(path)
        if frames[split]["agent"].unique().to_list() not in ([agent], []):
            raise MissingInputError(f"{path} holds another agent's rows, not {agent!r}'s")
    return frames


def _write_tests(config: dict[str, Any], folder: Path, agent: str, frames: dict[str, pl.DataFrame]) -> list[Path]:
    # The test splits, then what describes all six splits: baselines, card and the provenance hashing every file.
    seed = config["seed"]
    paths = [write_parquet(folder / f"{split}.parquet", frames[split]) for split in TEST_SPLITS]
    baselines = {split: split_baselines(frames[split]) for split in SPLITS}
    statistics = {split: split_statistics(frames[split]) for split in SPLITS}
    paths.append(write_json(folder / "baselines.json", baselines))
    card = dataset_card(
        {split: frames[split] for split in SPLITS}, agent=agent, config=config, baselines=baselines,
        statistics=statistics, version=DATASET_VERSION,
    )  # fmt: skip
    paths.append(write_text(folder / "card.md", card))
    files = [folder / f"{split}.parquet" for split in SPLITS] + paths[len(TEST_SPLITS) :]
    record = provenance(
        config, seed=seed, agent=agent, dataset_version=DATASET_VERSION,
        files={path.name: sha256_file(path) for path in files},
    )  # fmt: skip
    paths.append(write_json(folder / "provenance.json", record))
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign synthesize``: the configuration, the output folder, optionally one agent and splits."""
    from econalign.cli import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder (one subfolder per agent)")
    parser.add_argument("--agent", default=None, help="build only this agent (default: every configured agent)")
    parser.add_argument(
        "--splits",
        choices=SPLIT_GROUPS,
        default="all",
        help="all (default); training: train and validation only; tests: the test splits, baselines.json, card.md and "
        "provenance.json, reading the training splits already in --out",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``econalign synthesize``."""
    from econalign.cli import config_from_args

    written = synthesize(config_from_args(args), args.out, agent=args.agent, splits=args.splits)
    for name, paths in written.items():
        print(f"{name}: wrote {len(paths)} files to {paths[0].parent}")
    return 0
