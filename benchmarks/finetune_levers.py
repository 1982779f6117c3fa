"""Score fine-tuning runs on the validation split: the lever table of docs/finetuning.md.

For each run folder (the ``--out`` of ``econalign finetune``) it reads ``validation_choices.parquet`` (the last
evaluation's option log-probabilities), joins the agent's ``validation.parquet`` and reports:

* ``agreement``: share of items where the most likely option is the theory's answer;
* ``cooperation`` / ``cooperation_theory``: share of 2x2 items where the first action (C) is chosen / prescribed;
* ``sensitivity_r``: Pearson correlation, over 2x2 items, between the model's log-odds of C over D and the theory's
  utility difference u(C) - u(D) divided by the game's payoff range (does the choice follow the incentives?);
* ``minutes``: wall-clock minutes of the run (from its ``metrics.parquet``, compilation excluded) and the
  reference rules' agreement from the agent's ``baselines.json``.

Usage: ``uv run python benchmarks/finetune_levers.py --data results/synthesize RUN_DIR[:AGENT] ...``; prints a
markdown table and writes the rows as JSON to ``--json`` when given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl


def cooperation_gap(row: dict) -> tuple[list[str], float] | None:
    """A 2x2 row's actions in presentation order and the theory's u(C) - u(D) over the payoff range (else None)."""
    actions = [option["action"] for option in json.loads(row["options"])]
    if sorted(actions) != ["C", "D"]:
        return None
    utilities = json.loads(row["utilities"])
    payoffs = list(json.loads(row["params"]).values())
    spread = max(payoffs) - min(payoffs) or 1.0
    return actions, (utilities["C"] - utilities["D"]) / spread


def score(run_dir: Path, validation: Path) -> dict:
    choices = pl.read_parquet(run_dir / "validation_choices.parquet")
    rows = {row["id"]: row for row in pl.read_parquet(validation).to_dicts()}
    agree, chose_c, theory_c, log_odds, gaps = [], [], [], [], []
    for choice in choices.to_dicts():
        row = rows[choice["id"]]
        scores = np.asarray(choice["option_logprobs"])
        agree.append(int(np.argmax(scores)) == choice["answer"])
        pair = cooperation_gap(row)
        if pair is None:
            continue
        actions, gap = pair
        c, d = actions.index("C"), actions.index("D")
        log_odds.append(scores[c] - scores[d])
        gaps.append(gap)
        chose_c.append(scores[c] > scores[d])
        theory_c.append(row["optimal_action"] == "C")
    metrics = pl.read_parquet(run_dir / "metrics.parquet")
    seconds = float((metrics["tokens"] / metrics["tokens_per_s"]).sum())
    return {
        "run": run_dir.name,
        "items": len(agree),
        "agreement": round(float(np.mean(agree)), 3),
        "cooperation": round(float(np.mean(chose_c)), 3),
        "cooperation_theory": round(float(np.mean(theory_c)), 3),
        "sensitivity_r": round(float(np.corrcoef(log_odds, gaps)[0, 1]), 3) if np.std(log_odds) > 0 else 0.0,
        "steps": metrics.height,
        "minutes": round(seconds / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+", help="run folders, optionally RUN:AGENT (default agent: the folder's suffix)"
    )
    parser.add_argument("--data", default="results/synthesize", help="synthesize folder (one subfolder per agent)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    table = []
    for spec in args.runs:
        path, _, agent = spec.partition(":")
        run_dir = Path(path)
        agent = agent or run_dir.name.rsplit("-", 1)[-1]
        data = Path(args.data) / agent
        row = {"agent": agent, **score(run_dir, data / "validation.parquet")}
        baselines = json.loads((data / "baselines.json").read_text())["validation"]["overall"]
        row["rule_theory_ignoring_belief"] = baselines["theory_ignoring_belief"]
        row["rule_payoff_blind"] = baselines["payoff_blind"]
        table.append(row)
    columns = list(table[0])
    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---" for _ in columns) + " |")
    for row in table:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
