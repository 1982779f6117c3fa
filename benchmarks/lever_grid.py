"""Run a grid of fine-tuning settings and score each on the validation split (the lever study's driver).

Each setting is a name and config overrides (``data``/``finetune`` sections merged into the base config). For
every setting the agent's dataset is synthesized (once per distinct ``data`` section), the agent is fine-tuned
and then scored on the whole validation split two ways:

* ``agreement_direct``: the decision line read right after the prompt (``validation_choices.parquet``, as
  ``benchmarks/finetune_levers.py`` scores it);
* with ``data.reasoning_first``, also ``agreement_generated``: the agent writes its reply greedily, the strict
  parser reads the final decision line, and unparsed replies count as failures (``parse_failure``).

Settings evaluate on the validation split at the intervals of ``GRID_DEFAULTS`` (the study's curves were measured
so, while the workflow's default evaluates after the last step only) unless ``--config`` or their overrides say
otherwise.

Settings run in file order and each row is merged into ``--json`` as soon as it is done, so a run cut short keeps
what it finished: the file (``{"what", "notes", "rows"}``) accumulates the study, a row of the same setting and
agent is replaced in place, and every row records its machine and date (``machine.py``), its validation curve and
its training precision (``train_dtype``: the base config trains in ``bfloat16-mixed`` since 2026-11-28; the stored
rows from before, which lack the key, trained in float32).
Test splits are never read.

Usage: ``uv run python benchmarks/lever_grid.py --model results/prepare_model/base --grid benchmarks/levers.yaml
--out /tmp/levers --json /tmp/levers/levers.json [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_levers import cooperation_gap, score
from machine import machine

from econalign.config import load_config
from econalign.io import config_hash, write_text

GRID_DEFAULTS: dict[str, Any] = {"finetune": {"eval_every": 30}}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def generated_scores(agent: Any, rows: list[dict[str, Any]], *, max_new_tokens: int) -> dict[str, Any]:
    """Agreement, cooperation and incentive response of greedy replies parsed strictly (reasoning last)."""
    from econalign.evaluate.parse import parse_choice

    replies = agent.generate([json.loads(row["messages"]) for row in rows], max_new_tokens=max_new_tokens)
    agree, failures, chose_c, gaps = [], 0, [], []
    for row, reply in zip(rows, replies, strict=True):
        options = json.loads(row["options"])
        labels = [option["label"] for option in options]
        choice = parse_choice(reply, labels, reasoning_first=True)
        if choice is None:
            failures += 1
            agree.append(False)
            continue
        agree.append(labels[choice] == row["label_optimal"])
        pair = cooperation_gap(row)
        if pair is not None:
            actions, gap = pair
            chose_c.append(actions[choice] == "C")
            gaps.append(gap)
    varied = len(set(chose_c)) > 1
    return {
        "agreement_generated": round(float(np.mean(agree)), 3),
        "parse_failure": round(failures / len(rows), 3),
        "cooperation_generated": round(float(np.mean(chose_c)), 3) if chose_c else None,
        "sensitivity_r_generated": round(float(np.corrcoef(chose_c, gaps)[0, 1]), 3) if varied else 0.0,
        "example_reply": replies[0],
    }


def run_setting(
    name: str, overrides: dict[str, Any], *, base: dict[str, Any], agent: str, model: Path, out: Path,
    max_new_tokens: int,
) -> dict[str, Any]:  # fmt: skip
    from econalign.data.synthesize import synthesize
    from econalign.model.agent import load_agent
    from econalign.train.finetune import finetune, training_dtype

    config = load_config(overrides=merge(base, overrides))
    data_dir = out / "data" / config_hash({"data": config["data"], "seed": config["seed"], "agents": config["agents"]})
    if not (data_dir / agent / "validation.parquet").is_file():
        synthesize(config, data_dir, agent=agent)
    run_dir = out / name
    started = time.perf_counter()
    finetune(config, agent=agent, model_dir=model, data_dir=data_dir / agent, out_dir=run_dir)
    minutes = (time.perf_counter() - started) / 60
    validation = data_dir / agent / "validation.parquet"
    direct = score(run_dir, validation)
    evaluated = pl.read_parquet(run_dir / "metrics.parquet").drop_nulls(["val_accuracy", "val_loss"])
    baselines = json.loads((data_dir / agent / "baselines.json").read_text())["validation"]["overall"]
    row = {
        "setting": name,
        "agent": agent,
        "overrides": overrides,
        # config/config.yaml trains in bfloat16-mixed since 2026-11-28; rows without this key trained in float32.
        "train_dtype": training_dtype(config),
        "steps": direct["steps"],
        "agreement_direct": direct["agreement"],
        "cooperation_direct": direct["cooperation"],
        "cooperation_theory": direct["cooperation_theory"],
        "sensitivity_r_direct": direct["sensitivity_r"],
        "job_minutes": round(minutes, 2),
        "rule_theory_ignoring_belief": baselines["theory_ignoring_belief"],
        "rule_payoff_blind": baselines["payoff_blind"],
        "validation_curve": {
            "step": evaluated["step"].to_list(),
            "accuracy": [round(value, 3) for value in evaluated["val_accuracy"]],
            "loss": [round(value, 3) for value in evaluated["val_loss"]],
        },
        "machine": machine(),
    }
    if config["data"]["reasoning_first"]:
        agent_model = load_agent(model, run_dir / "adapter", dtype=config["model"]["dtype"], progress=False)
        rows = pl.read_parquet(validation).to_dicts()
        started = time.perf_counter()
        row.update(generated_scores(agent_model, rows, max_new_tokens=max_new_tokens))
        row["generate_minutes"] = round((time.perf_counter() - started) / 60, 2)
    return row


def merge_rows(path: Path, row: dict[str, Any], *, note: str | None = None) -> dict[str, Any]:
    """Merge one finished row into the study file at ``path`` (replacing the row of the same setting and agent)."""
    study: dict[str, Any] = {"what": f"benchmarks/lever_grid.py: {__doc__.splitlines()[0]}", "notes": "", "rows": []}
    if path.is_file():
        stored = json.loads(path.read_text())
        study |= {"rows": stored} if isinstance(stored, list) else stored  # a bare list: files of earlier runs
    if note and note not in study["notes"]:
        study["notes"] = f"{study['notes']} {note}".strip()
    key = (row["setting"], row["agent"])
    rows = study["rows"]
    same = [i for i, old in enumerate(rows) if (old.get("setting"), old.get("agent")) == key]
    if same:
        rows[same[0]] = row
    else:
        rows.append(row)
    write_text(path, json.dumps(study, indent=2) + "\n")
    return study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="prepared base model directory")
    parser.add_argument("--grid", required=True, type=Path, help="YAML: a list of {name, overrides}")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="base study config")
    parser.add_argument("--agent", default="economicus")
    parser.add_argument("--out", required=True, type=Path, help="work folder (data and one folder per setting)")
    parser.add_argument("--json", type=Path, help="study file: each finished row is merged into it")
    parser.add_argument("--note", help="a remark added to the study file's notes")
    parser.add_argument("--only", nargs="*", help="run only these settings")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--quiet", action="store_true", help="no per-step progress bars")
    args = parser.parse_args()
    base = merge(GRID_DEFAULTS, yaml.safe_load(args.config.read_text()) or {})
    if args.quiet:
        base = merge(base, {"finetune": {"progress": False}})
    grid = yaml.safe_load(args.grid.read_text())
    for setting in grid:
        if args.only and setting["name"] not in args.only:
            continue
        row = run_setting(
            setting["name"], setting.get("overrides", {}), base=base, agent=args.agent, model=args.model,
            out=args.out, max_new_tokens=args.max_new_tokens,
        )  # fmt: skip
        print(json.dumps(row), flush=True)
        if args.json:
            merge_rows(args.json, row, note=args.note)


if __name__ == "__main__":
    main()
