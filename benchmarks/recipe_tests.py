"""An agent's test-split scores beside the untuned model's and the reference rules', with a label-binding check.

The lever study (``lever_grid.py``) scores the validation split only. For a setting worth a closer look, train it
there, score its agent, the untuned model and the reference rules on the test battery with ``econalign evaluate``
(as rule ``evaluate`` does, with the setting's config), and summarise the three with this script:

    uv run econalign evaluate --config C --agent base --model M --data D --out E/base
    uv run econalign evaluate --config C --agent NAME --model M --adapter RUN/adapter --data D --out E/NAME
    uv run econalign evaluate --config C --references --data D --out E/references
    uv run python benchmarks/recipe_tests.py --evaluations E --agent NAME --setting SETTING --out results.json

Besides agreement with the agent's own theory per split (Wilson intervals), the same where the stated belief changes
the theory's answer and elsewhere (``belief_use``, ``econalign.evaluate.metrics.belief_use``), the correlation of its
choice with the theory's utility difference, it splits test_labels into the training letters listed in swapped
order (B before A) and the unseen letters, and counts how often the agent names the letter that held the theory's
place in training (the alphabetically earlier letter for the first listed option): an agent that read the table
right but tied letters to places in the list scores near 0% on the swapped items and names that letter nearly
always.

``own_versus_other`` and ``versus_rules`` are the comparisons rule ``report_games_summary`` makes for the default
targets (``econalign.evaluate.comparisons``): per split, the agent's agreement with every theory and its cooperation
level beside each exact theory's, and whether it sits nearer its own theory than the others in both; and its agreement
with its theory minus each reference rule's, paired by item. Without ``E/base`` the untuned model is left out.

Agents trained with other seeds were trained on other draws and tested on other items, so their test items are
independent evidence: ``--pool E2:R2 E3:R3`` (each run's evaluations and references folders, the same agent) adds
``pooled``, every run's items of a split taken together, each run's item and decision-problem keys kept apart, and
the same paired comparison with every rule:

    uv run python benchmarks/recipe_tests.py --evaluations E1 --references R1 --agent NAME --pool E2:R2 E3:R3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import polars as pl

from econalign.evaluate.comparisons import own_versus_other, reference_rules, versus_rules
from econalign.evaluate.metrics import belief_use
from econalign.io import write_text
from econalign.stats import wilson_interval

TEST_SPLITS = ("test_payoffs", "test_paraphrases", "test_labels", "test_families")


def label_binding(items: pl.DataFrame, theory: str, trained_sets: list[str]) -> dict[str, Any]:
    """test_labels agreement by letter kind, and how often a swapped item's answer is the letter of the place."""
    rows = items.filter((pl.col("split") == "test_labels") & pl.col(f"pred_{theory}").is_not_null())
    swapped = {"agree": 0, "place_letter": 0, "n": 0}
    unseen = {"agree": 0, "n": 0}
    for labels, actions, answer, choice in zip(
        rows["labels"], rows["actions"], rows[f"pred_{theory}"], rows["choice_label"], strict=True
    ):
        labels, at = list(labels), list(actions).index(answer)
        if any(set(labels) <= set(letters) for letters in trained_sets) and labels != sorted(labels):
            swapped["n"] += 1
            swapped["agree"] += choice == labels[at]
            swapped["place_letter"] += choice == sorted(labels)[at]
        else:
            unseen["n"] += 1
            unseen["agree"] += choice == labels[at]
    return {
        "swapped_training_letters": {
            "agreement": wilson_interval(swapped["agree"], swapped["n"]),
            "names_the_letter_of_the_place": wilson_interval(swapped["place_letter"], swapped["n"]),
        },
        "unseen_letters": {"agreement": wilson_interval(unseen["agree"], unseen["n"])},
    }


def summarise(evaluations: Path, agent: str, references: Path) -> dict[str, Any]:
    """Per split: the agent's and the untuned model's agreement with the agent's theory, every rule's, and more."""
    names = [agent, *(["base"] if (evaluations / "base" / "metrics.json").exists() else [])]
    metrics = {name: json.loads((evaluations / name / "metrics.json").read_text()) for name in names}
    theory = metrics[agent]["own_theory"]
    rules = json.loads((references / "metrics.json").read_text())["references"]
    config = metrics[agent]["provenance"]["config"]
    items = pl.read_parquet(evaluations / agent / "items.parquet")
    paired = pl.concat([items, pl.read_parquet(references / "items.parquet")], how="diagonal_relaxed")
    confidence = float(config["evaluate"]["confidence"])
    out: dict[str, Any] = {"agent": agent, "theory": theory, "splits": {}}
    for split in TEST_SPLITS:
        out["splits"][split] = {
            "agreement": {name: m["agreement"][split][theory]["all"]["choice"] for name, m in metrics.items()},
            "rules": {name: r["agreement"][split][theory]["all"]["choice"]["estimate"] for name, r in rules.items()},
            "utility_correlation": metrics[agent]["utility_correlation"][split].get(theory),
            "own_versus_other": own_versus_other(metrics[agent], rules, split),
            "belief_use": metrics[agent]["belief_use"][split][theory],
            "versus_rules": versus_rules(
                paired.filter(pl.col("split") == split),
                agent,
                reference_rules(list(rules)),
                theory,
                confidence=confidence,
            ),
        }
    out["label_binding"] = label_binding(items, theory, config["data"]["label_sets"])
    return out


def pooled(runs: list[tuple[Path, Path]], agent: str) -> dict[str, Any]:
    """Per split, agreement and the paired comparison with every rule over the items of several independent runs.

    Args:
        runs: ``(evaluations, references)`` folders of each run (seed), the same agent and config but for the seed.
        agent: The agent's name.

    Returns:
        ``{"runs", "seeds", "theory", "splits": {split: {"n", "agreement", "versus_rules", "belief_use"}}}``.
    """
    frames, seeds, theories, confidences, rule_names = [], [], set(), set(), None
    for index, (evaluations, references) in enumerate(runs):
        metrics = json.loads((evaluations / agent / "metrics.json").read_text())
        config = metrics["provenance"]["config"]
        theories.add(metrics["own_theory"])
        confidences.add(float(config["evaluate"]["confidence"]))
        seeds.append(config["seed"])
        rules = reference_rules(list(json.loads((references / "metrics.json").read_text())["references"]))
        if rule_names not in (None, rules):
            raise ValueError(f"run {index} has other reference rules: {rules} against {rule_names}")
        rule_names = rules
        run = pl.concat(
            [pl.read_parquet(evaluations / agent / "items.parquet"), pl.read_parquet(references / "items.parquet")],
            how="diagonal_relaxed",
        )
        # The same id or decision problem in two runs is two draws, not one item seen twice.
        frames.append(
            run.with_columns(
                pl.format("{}/{}", pl.lit(index), pl.col("id")).alias("id"),
                pl.format("{}/{}", pl.lit(index), pl.col("game_key")).alias("game_key"),
            )
        )
    if len(theories) != 1 or len(confidences) != 1 or len(set(seeds)) != len(seeds):
        raise ValueError(f"runs differ in theory {theories} or confidence {confidences}, or repeat a seed: {seeds}")
    theory, confidence = theories.pop(), confidences.pop()
    items = pl.concat(frames, how="diagonal_relaxed")
    out: dict[str, Any] = {"runs": [str(e) for e, _ in runs], "seeds": seeds, "theory": theory, "splits": {}}
    for split in TEST_SPLITS:
        rows = items.filter(pl.col("split") == split)
        mine = rows.filter((pl.col("agent") == agent) & pl.col(f"agree_{theory}").is_not_null())
        out["splits"][split] = {
            "n": mine.height,
            "agreement": wilson_interval(int(mine[f"agree_{theory}"].sum()), mine.height),
            "versus_rules": versus_rules(rows, agent, rule_names or [], theory, confidence=confidence),
            "belief_use": belief_use(mine, theory, confidence=confidence),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", required=True, type=Path, help="folder with base/ and the agent's folder")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--references", type=Path, help="the reference rules' folder (default: EVALUATIONS/references)")
    parser.add_argument("--setting", help="the lever study's setting the agent was trained with (recorded)")
    parser.add_argument(
        "--pool", nargs="+", default=[], metavar="EVALUATIONS:REFERENCES", help="runs of other seeds to pool with"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    references = args.references or args.evaluations / "references"
    result = {"setting": args.setting, **summarise(args.evaluations, args.agent, references)}
    if args.pool:
        others = [tuple(Path(part) for part in run.split(":", 1)) for run in args.pool]
        if any(len(run) != 2 for run in others):
            parser.error("--pool takes EVALUATIONS:REFERENCES pairs")
        result["pooled"] = pooled([(args.evaluations, references), *others], args.agent)
    text = json.dumps(result, indent=2) + "\n"
    print(text, end="")
    if args.out:
        write_text(args.out, text)


if __name__ == "__main__":
    main()
