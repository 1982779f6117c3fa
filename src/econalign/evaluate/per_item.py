"""Per-item results: an agent's probabilities and choice beside each theory's answer, utility gap and regret.

This is the table written as ``items.parquet``: one row per (agent, item). Every aggregate metric and figure is a
function of it, so restyling a figure never re-scores a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from econalign.evaluate.predictions import Theory
from econalign.evaluate.scoring import Scores, argmax_choices, tied_best

__all__ = ["item_results"]


def _theory_columns(
    probs: np.ndarray,
    choice: int,
    levels: np.ndarray,
    utilities: np.ndarray,
    predicted: str | None,
    actions: Sequence[str],
    span: float,
) -> dict[str, Any]:
    failed = choice < 0
    out: dict[str, Any] = {"agree": None, "p_pred": None, "udiff": None, "regret": None, "regret_choice": None}
    if predicted is not None and not failed:
        k = list(actions).index(predicted)
        out["agree"] = bool(choice == k)
        out["p_pred"] = float(probs[k])
    if len(actions) == 2 and np.all(np.isfinite(utilities)) and np.all(np.isfinite(levels)) and levels[0] != levels[1]:
        high, low = (0, 1) if levels[0] > levels[1] else (1, 0)
        out["udiff"] = float((utilities[high] - utilities[low]) / span) if span > 0 else None
    if predicted is not None and span > 0 and not failed:
        best = float(utilities.max())
        out["regret"] = float((best - probs @ utilities) / span)
        out["regret_choice"] = float((best - utilities[choice]) / span)
    return out


def item_results(
    battery: pl.DataFrame, scores: Scores, theories: Sequence[Theory], *, agent: str, seed: int
) -> pl.DataFrame:
    """Join a scorer's output to the battery and derive the per-item comparisons with every theory.

    Columns added to the battery: ``agent``, ``probs``, ``logprobs``, ``response``, ``parse_failed``,
    ``unscorable`` (the agent could not score the item: no choice), ``n_samples`` and ``reply_failure`` (sampled
    mode: replies drawn, and the share that did not parse; null otherwise), ``choice_index`` / ``choice`` /
    ``choice_label`` (argmax option; null on a parse failure or an unscorable item), ``tied`` (the argmax was an
    exact tie, broken at random), ``coop_expected`` (probability-weighted cooperation level), ``coop_choice`` (level
    of the argmax), and per theory ``t``:
    ``agree_<t>`` (argmax equals the theory's answer; null without answer or on a parse failure), ``p_pred_<t>``
    (probability of the theory's answer), ``udiff_<t>`` (two-option items: utility of the more cooperative option
    minus the other's, over the payoff range), ``regret_<t>`` (expected utility regret E_a~p[max u − u(a)] over the
    payoff range, on items the theory answers) and ``regret_choice_<t>`` (regret of the argmax).

    Args:
        battery: Output of ``add_theory_columns``.
        scores: The scorer's output, one entry per battery row.
        theories: The theories the battery's columns cover.
        agent: Name written in the ``agent`` column.
        seed: Seed of the argmax tie-break.

    Returns:
        The per-item table.
    """
    n = battery.height
    if len(scores.probs) != n:
        raise ValueError(f"scores cover {len(scores.probs)} items, the battery has {n}")
    ids = battery["id"].to_list()
    choices = argmax_choices(scores.probs, ids, seed=seed)
    unscorable = np.zeros(n, dtype=bool) if scores.unscorable is None else np.asarray(scores.unscorable, dtype=bool)
    n_samples = [None] * n if scores.n_samples is None else [int(v) for v in scores.n_samples]
    reply_failure = [None] * n if scores.reply_failure is None else [float(v) for v in scores.reply_failure]
    actions = battery["actions"].to_list()
    labels = battery["labels"].to_list()
    levels = [np.asarray(v, dtype=np.float64) for v in battery["coop_levels"]]
    spans = battery["payoff_range"].to_numpy()
    columns: dict[str, list[Any]] = {
        "agent": [agent] * n,
        "probs": [[float(v) for v in p] for p in scores.probs],
        "logprobs": [None if v is None else [float(x) for x in v] for v in scores.logprobs],
        "response": list(scores.responses),
        "parse_failed": [bool(v) for v in scores.parse_failed],
        "unscorable": [bool(v) for v in unscorable],
        "n_samples": n_samples,
        "reply_failure": reply_failure,
        "choice_index": [None if c < 0 else int(c) for c in choices],
        "choice": [None if c < 0 else actions[i][c] for i, c in enumerate(choices)],
        "choice_label": [None if c < 0 else labels[i][c] for i, c in enumerate(choices)],
        "tied": [bool(tied_best(p).size > 1) if c >= 0 else None for p, c in zip(scores.probs, choices, strict=True)],
        "coop_expected": [],
        "coop_choice": [],
    }
    for i, p in enumerate(scores.probs):
        ok = choices[i] >= 0 and np.all(np.isfinite(levels[i]))
        columns["coop_expected"].append(float(np.asarray(p) @ levels[i]) if ok else None)
        columns["coop_choice"].append(float(levels[i][choices[i]]) if ok else None)
    for theory in theories:
        derived: dict[str, list[Any]] = {key: [] for key in ("agree", "p_pred", "udiff", "regret", "regret_choice")}
        predicted = battery[f"pred_{theory.name}"].to_list()
        utilities = battery[f"utilities_{theory.name}"].to_list()
        for i in range(n):
            row = _theory_columns(
                np.asarray(scores.probs[i], dtype=np.float64),
                int(choices[i]),
                levels[i],
                np.asarray(utilities[i], dtype=np.float64),
                predicted[i],
                actions[i],
                float(spans[i]),
            )
            for key, value in row.items():
                derived[key].append(value)
        for key, values in derived.items():
            columns[f"{key}_{theory.name}"] = values
    dtypes = {
        "agent": pl.String,
        "probs": pl.List(pl.Float64),
        "logprobs": pl.List(pl.Float64),
        "response": pl.String,
        "parse_failed": pl.Boolean,
        "unscorable": pl.Boolean,
        "n_samples": pl.Int64,
        "reply_failure": pl.Float64,
        "choice_index": pl.Int64,
        "choice": pl.String,
        "choice_label": pl.String,
        "tied": pl.Boolean,
    }
    series = []
    for name, values in columns.items():
        dtype = dtypes.get(name, pl.Boolean if name.startswith("agree_") else pl.Float64)
        series.append(pl.Series(name, values, dtype=dtype))
    return battery.with_columns(series)
