"""Consistency probes: dataset items presented again, with one thing changed, to pair with the originals.

The test splits measure accuracy under unseen labels and paraphrases, but each draws its own games, so they hold
no pairs of the same game presented two ways. The probes make such pairs from ``test_payoffs`` items with the
dataset's own renderer (``econalign.data.templates.render_item``):

* ``probe_labels``: the same prompt with the options listed in reverse order under the same labels, so every
  label now names another action (a label swap);
* ``probe_paraphrases``: the same game, belief, labels and order in a held-out paraphrase of the prompt.

A consistent agent chooses the same action in the original and the probe, whatever its preference.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl

from econalign.data.templates import render_item, template_kind, templates_for
from econalign.evaluate.items import parse_counts
from econalign.theory import game_from_params

__all__ = ["PROBE_SPLITS", "SOURCE_SPLIT", "consistency_probes"]

SOURCE_SPLIT = "test_payoffs"
"""Split the probes re-present (trained templates and labels, so each probe changes one thing)."""

PROBE_SPLITS = {"labels": "probe_labels", "paraphrases": "probe_paraphrases"}
"""Consistency axis -> the split name of its probes."""


def _rank(seed: int, *parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in (seed, *parts)).encode("utf-8")).hexdigest()


def _probe(row: dict[str, Any], axis: str, *, seed: int, reasoning_first: bool) -> dict[str, Any]:
    game = game_from_params(row["family"], row["params"])
    counts = parse_counts(row["belief_counts"])
    belief = None if counts is None else [c / sum(counts) for c in counts]
    order = [game.action_index(a) for a in row["actions"]]
    labels = list(row["labels"])
    template = row["template"]
    if axis == "labels":
        order = order[::-1]
    else:
        kind = template_kind(game)
        choices = [t for t in templates_for(kind, held_out=True) if t != template] or [
            t for t in templates_for(kind, held_out=False) if t != template
        ]
        template = min(choices, key=lambda t: _rank(seed, "probe_template", row["id"], t))
    rendered = render_item(
        game, belief=belief, template=template, labels=labels, order=order, reasoning_first=reasoning_first
    )
    return {
        **row,
        "id": f"{row['id']}~{axis}",
        "split": PROBE_SPLITS[axis],
        "template": template,
        "options": json.dumps(rendered.options),
        "messages": json.dumps(rendered.messages),
        "labels": [o["label"] for o in rendered.options],
        "actions": [o["action"] for o in rendered.options],
        "source_id": row["id"],
    }


def consistency_probes(
    battery: pl.DataFrame, *, n_items: int, seed: int, reasoning_first: bool = False
) -> pl.DataFrame:
    """Probe items for each consistency axis, re-presenting up to ``n_items`` items of ``SOURCE_SPLIT``.

    Args:
        battery: Output of ``load_battery`` (after ``select_items``); needs ``SOURCE_SPLIT`` items.
        n_items: Probes per axis (0: none); sources are chosen by a seeded hash of their id.
        seed: The configuration's seed.
        reasoning_first: The dataset's format instruction (``data.reasoning_first``).

    Returns:
        Rows with the battery's columns (``source_id`` names the original item), empty when nothing to probe.
    """
    sources = battery.filter(pl.col("split") == SOURCE_SPLIT)
    if n_items <= 0 or sources.height == 0:
        return battery.clear()
    rows = []
    for axis in PROBE_SPLITS:
        chosen = sorted(sources.iter_rows(named=True), key=lambda r: _rank(seed, "probe", axis, r["id"]))[:n_items]
        rows += [_probe(row, axis, seed=seed, reasoning_first=reasoning_first) for row in chosen]
    return pl.DataFrame(rows, schema=battery.schema).sort(["split", "id"])
