"""``econalign evaluate``: score one agent, or the reference rules, on the game battery.

The battery is the test splits of the synthesized datasets (the same items for every agent, ``evaluate.splits``,
at most ``evaluate.max_items_per_split`` each) plus consistency probes (``econalign.evaluate.probes``). Outputs:

* an LLM agent (``base`` or a configured agent, with its adapter; or ``--hosted NAME``, a model of the config's
  ``hosted:`` list behind an OpenAI-compatible endpoint): ``{out}/items.parquet``, one row per item
  (columns in ``econalign.evaluate.items.add_theory_columns`` and ``econalign.evaluate.per_item.item_results``),
  and ``{out}/metrics.json`` (layout in ``econalign.evaluate.metrics.summarise``, plus ``mode``, ``data_check``,
  ``config_hash``, ``seed`` and ``provenance``);
* ``--references``: every reference rule (``econalign.evaluate.reference``) on the same items, no model:
  ``items.parquet`` with one ``agent`` per rule, and ``metrics.json`` = ``{"references": {rule: metrics},
  "rules": [...], ...}`` (``results/evaluate_reference`` in the workflow).

Model scores are cached in ``--cache-dir`` (one parquet per model and adapter) by (model sha256, adapter hash, item
id, prompt hash), so a re-run scores nothing twice. Hosted models bypass this cache: their weights have no sha256,
and the backend's response cache (``cache_dir`` of the hosted entry), keyed by the full request, already answers a
re-run without a request.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from econalign.cli import add_config_arguments, config_from_args
from econalign.config import ConfigError, agent_spec
from econalign.evaluate.cache import NO_ADAPTER, ScoreCache, adapter_hash
from econalign.evaluate.items import add_theory_columns, answer_mismatches, load_battery, select_items
from econalign.evaluate.metrics import summarise
from econalign.evaluate.per_item import item_results
from econalign.evaluate.predictions import Theory, theories_from_config, theory_name
from econalign.evaluate.probes import consistency_probes
from econalign.evaluate.reference import reference_scorers
from econalign.evaluate.scoring import AgentScorer, Scorer
from econalign.io import config_hash, provenance, write_json, write_parquet
from econalign.theory import preference_from_config

__all__ = [
    "SMALL_BATCHES",
    "add_arguments",
    "build_battery",
    "evaluate_agent",
    "evaluate_hosted",
    "evaluate_references",
    "evaluate_scorer",
    "main",
    "own_theory",
]

log = logging.getLogger(__name__)

DROPPED_COLUMNS = ("messages", "options")
"""Battery columns not repeated in items.parquet (the dataset keeps them; ``id`` links back)."""

SMALL_BATCHES = (4,)
"""Batch sizes below the full one when an agent scores the battery. A one-row shape would save at most three
padded rows of a batch and cost a compilation per sequence length (~4 s each on CPU, where the battery's
compilations took longer than its scoring): without it the default battery compiles 12 shapes instead of 23."""


def own_theory(config: Mapping[str, Any], agent: str) -> str | None:
    """Name of the theory an agent was aligned to (None for ``base`` and for names the config does not define)."""
    if agent == "base":
        return None
    try:
        return theory_name(preference_from_config(agent_spec(config, agent)))
    except ConfigError:
        return None


def build_battery(
    config: Mapping[str, Any], data_dir: str | Path, *, prefer: str | None = None
) -> tuple[pl.DataFrame, list[Theory], dict[str, Any]]:
    """Load, subsample and annotate the battery as configured, with its consistency probes.

    Args:
        config: The resolved configuration.
        data_dir: ``results/synthesize``.
        prefer: Agent whose dataset is read first (its own, for an aligned agent).

    Returns:
        The annotated battery, the theories, and the data check of ``load_battery`` with ``answer_mismatches``
        (per agent dataset, items whose ``optimal_action`` differs from the battery's answer; 0 expected).
    """
    settings, data = config["evaluate"], config["data"]
    agents = [a["name"] for a in config["agents"]]
    if prefer in agents:
        agents = [prefer, *(a for a in agents if a != prefer)]
    battery, check, answers = load_battery(data_dir, agents, splits=settings["splits"])
    battery = select_items(battery, max_items_per_split=settings["max_items_per_split"], seed=config["seed"])
    probes = consistency_probes(
        battery,
        n_items=settings["consistency_items"],
        seed=config["seed"],
        reasoning_first=bool(data["reasoning_first"]),
    )
    battery = pl.concat([battery, probes], how="vertical")
    theories = theories_from_config(config)
    margin = float(data["tie_margin"])
    battery = add_theory_columns(battery, theories, min_margin=margin)
    # The battery's answers must be the datasets' own: count disagreements per agent (0 expected).
    check["answer_mismatches"] = {
        agent: answer_mismatches(battery, frame, own_theory(config, agent)) for agent, frame in answers.items()
    }
    return battery, theories, check


def _write(out_dir: Path, items: pl.DataFrame, metrics: Mapping[str, Any]) -> None:
    write_parquet(out_dir / "items.parquet", items.drop([c for c in DROPPED_COLUMNS if c in items.columns]))
    write_json(out_dir / "metrics.json", metrics)


def evaluate_scorer(
    config: Mapping[str, Any],
    scorer: Scorer,
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    own: str | None = None,
    extra: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Score the battery with one scorer and write ``items.parquet`` and ``metrics.json``.

    Args:
        config: The resolved configuration.
        scorer: An LLM agent's scorer or a reference rule.
        data_dir: ``results/synthesize``.
        out_dir: Output folder.
        own: The scorer's own theory, if any.
        extra: Further provenance fields (model sha256, adapter hash), or a function returning them, called after
            scoring (so that counters such as a hosted agent's are final).

    Returns:
        The metrics written.
    """
    start = time.perf_counter()
    battery, theories, check = build_battery(config, data_dir, prefer=scorer.name)
    log.info("battery: %d items (%s)", battery.height, dict(battery.group_by("split").len().iter_rows()))
    items = item_results(battery, scorer.score(battery), theories, agent=scorer.name, seed=config["seed"])
    metrics = summarise(items, theories, own_theory=own, confidence=config["evaluate"]["confidence"])
    metrics["mode"] = getattr(scorer, "mode", "rule")
    metrics["data_check"] = check
    metrics["config_hash"] = config_hash(config)
    metrics["seed"] = config["seed"]
    metrics["provenance"] = provenance(config, **dict((extra() if callable(extra) else extra) or {}))
    _write(Path(out_dir), items, metrics)
    log.info("%s evaluated in %.1f s", scorer.name, time.perf_counter() - start)
    return metrics


def evaluate_references(config: Mapping[str, Any], *, data_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Score every reference rule on the battery; one ``items.parquet`` (column ``agent``), metrics keyed by rule.

    Args:
        config: The resolved configuration.
        data_dir: ``results/synthesize``.
        out_dir: Output folder (``results/evaluate_reference``).

    Returns:
        ``{"references": {rule: metrics}, "rules": [rule names in display order], "config_hash", "seed",
        "data_check", "provenance"}``.
    """
    battery, theories, check = build_battery(config, data_dir)
    confidence = config["evaluate"]["confidence"]
    frames, metrics = [], {}
    for scorer in reference_scorers(theories):
        items = item_results(battery, scorer.score(battery), theories, agent=scorer.name, seed=config["seed"])
        own = scorer.theory.name if hasattr(scorer, "theory") else None
        metrics[scorer.name] = summarise(items, theories, own_theory=own, confidence=confidence)
        frames.append(items)
    out = {
        "references": metrics,
        "rules": list(metrics),
        "config_hash": config_hash(config),
        "seed": config["seed"],
        "data_check": check,
        "provenance": provenance(config),
    }
    _write(Path(out_dir), pl.concat(frames, how="vertical"), out)
    return out


def evaluate_agent(
    config: Mapping[str, Any],
    *,
    agent: str,
    model_dir: str | Path,
    adapter_dir: str | Path | None,
    data_dir: str | Path,
    out_dir: str | Path,
    cache_dir: str | Path | None,
) -> dict[str, Any]:
    """Load a model (and adapter) and evaluate it; see ``evaluate_scorer``."""
    from econalign.model.agent import load_agent  # JAX is imported only when a model is scored
    from econalign.model.buckets import Buckets

    settings = config["evaluate"]
    dtype = config["model"]["dtype"]
    model = load_agent(model_dir, adapter=adapter_dir, dtype=dtype, buckets=Buckets(small_batches=SMALL_BATCHES))
    adapter = adapter_hash(adapter_dir)
    sha = getattr(model, "model_sha256", None)
    # Cached scores belong to the weights, tokenizer and chat template (the fingerprint); scores in another precision
    # are other scores: they get their own cache file and entries.
    model_key = getattr(model, "fingerprint", None) or sha  # an agent of another kind may have no fingerprint
    if model_key is not None and dtype != "float32":
        model_key = hashlib.sha256(f"{model_key}\0{dtype}".encode()).hexdigest()
    cache_path = None
    if settings["cache"] and cache_dir is not None and model_key:
        cache_path = Path(cache_dir) / ScoreCache.file_name(model_key, adapter)
    elif settings["cache"] and not model_key:
        log.warning("the model's weights have no sha256: scores are not cached")
    cache = ScoreCache(cache_path, model_sha256=model_key or "unknown", adapter=adapter)
    scorer = AgentScorer(
        model,
        name=agent,
        cache=cache,
        mode=settings["mode"],
        max_new_tokens=settings["max_new_tokens"],
        temperature=settings["temperature"],
        seed=config["seed"],
        reasoning_first=config["data"]["reasoning_first"],
    )
    extra = {"agent": agent, "model_sha256": sha, "adapter_hash": adapter}
    return evaluate_scorer(
        config, scorer, data_dir=data_dir, out_dir=out_dir, own=own_theory(config, agent), extra=extra
    )


def evaluate_hosted(
    config: Mapping[str, Any], *, name: str, data_dir: str | Path, out_dir: str | Path
) -> dict[str, Any]:
    """Evaluate a hosted model of the config's ``hosted:`` list; see ``evaluate_scorer``.

    A model with log-probabilities is scored in ``evaluate.mode``; one without (``logprobs: false``) in sampled mode
    (``AgentScorer``). Its provenance is the agent's ``describe()`` (settings, model id, request counters; no key).

    Args:
        config: The resolved configuration.
        name: The hosted entry's ``name``.
        data_dir: ``results/synthesize``.
        out_dir: Output folder (``results/evaluate/{name}``).

    Returns:
        The metrics written.
    """
    from econalign.serve import hosted_entry, load_hosted_agent

    settings = config["evaluate"]
    model = load_hosted_agent(hosted_entry(config, name))
    mode = settings["mode"] if model.supports_logprobs else "sampled"
    scorer = AgentScorer(
        model,
        name=name,
        cache=ScoreCache(None, model_sha256=model.model_id, adapter=NO_ADAPTER),  # in memory: see the module doc
        mode=mode,
        max_new_tokens=settings["max_new_tokens"],
        temperature=settings["temperature"],
        seed=config["seed"],
        reasoning_first=config["data"]["reasoning_first"],
    )

    def extra() -> dict[str, Any]:
        return {"agent": name, "model_id": model.model_id, "hosted": model.describe()}

    return evaluate_scorer(config, scorer, data_dir=data_dir, out_dir=out_dir, own=None, extra=extra)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign evaluate``."""
    add_config_arguments(parser)
    parser.add_argument("--agent", default="base", help='"base" or a configured agent (default: base)')
    parser.add_argument("--model", metavar="DIR", help="base model directory (results/prepare_model/base)")
    parser.add_argument("--adapter", metavar="DIR", help="the agent's PEFT adapter directory")
    parser.add_argument(
        "--hosted", metavar="NAME", help="evaluate the config's hosted model NAME instead of --model/--adapter"
    )
    parser.add_argument("--references", action="store_true", help="score the reference rules instead of a model")
    parser.add_argument("--data", metavar="DIR", required=True, help="synthesized datasets (results/synthesize)")
    parser.add_argument("--out", metavar="DIR", required=True, help="output folder")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="score cache folder of a local model (default: .cache beside the output folder); refused with "
        "--references (no model) and --hosted (a hosted model's responses are cached in its entry's cache_dir)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``econalign evaluate``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = config_from_args(args)
    if args.cache_dir and (args.references or args.hosted):
        # Silently ignored, it would let a user believe the scores were cached there.
        other = "--references scores no model" if args.references else "--hosted caches in its entry's cache_dir"
        raise ConfigError(f"--cache-dir caches a local model's scores only; {other}")
    if args.references:
        evaluate_references(config, data_dir=args.data, out_dir=args.out)
        return 0
    if args.hosted:
        if args.model or args.adapter:
            raise ConfigError("--hosted replaces --model and --adapter")
        evaluate_hosted(config, name=args.hosted, data_dir=args.data, out_dir=args.out)
        return 0
    if not args.model:
        raise ConfigError("--model is required unless --references or --hosted is given")
    if args.agent != "base":
        agent_spec(config, args.agent)  # an unknown name is an error, not a run scored and labelled as that agent
    if (args.adapter is None) != (args.agent == "base"):
        raise ConfigError(f"agent {args.agent!r} needs --adapter exactly when it is not 'base'")
    cache_dir = args.cache_dir or Path(args.out).parent / ".cache"
    evaluate_agent(
        config,
        agent=args.agent,
        model_dir=args.model,
        adapter_dir=args.adapter,
        data_dir=args.data,
        out_dir=args.out,
        cache_dir=cache_dir,
    )
    return 0
