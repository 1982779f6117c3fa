"""Running pricing pairings from the command line: firms from the config, partial logs, outputs and provenance.

``run_pairings`` instantiates every firm once (a reference pricer, the base model, or an aligned agent's adapter),
simulates the pairings in lockstep (``duopoly.simulate_many``), checkpoints each pairing's partial log beside its
output, resumes from such a partial log, and writes each log with its provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from econalign.applications.duopoly import PricingSetup, simulate_many
from econalign.applications.pairings import split_pairing
from econalign.applications.pricing_agents import REFERENCE_PRICERS, reference_pricer

__all__ = [
    "SMALL_BATCHES",
    "adapter_dir",
    "build_players",
    "partial_path",
    "provenance_path",
    "run_pairing",
    "run_pairings",
]

logger = logging.getLogger(__name__)

SMALL_BATCHES = (1, 2, 4, 8)
"""Batch shapes of an LLM firm's scoring calls below a full batch (each is compiled once when first used)."""


def build_players(
    names: Iterable[str], config: Mapping[str, Any], *, model: Path | None, adapters: Path | None
) -> dict[str, Any]:
    """Instantiate each named firm once: a reference pricer, the base model, or an aligned agent's adapter.

    Args:
        names: Firm names (repeats are instantiated once).
        config: The resolved configuration.
        model: HF-layout base model directory (needed when an LLM firm plays).
        adapters: Folder holding ``{agent}/adapter`` (results/finetune).

    Returns:
        Firm name -> player.

    Raises:
        ConfigError: A firm is neither a reference pricer nor an agent of the config, or an LLM firm plays without
            ``model`` or ``adapters`` (``econalign pricing`` exits with status 2).
    """
    from econalign.config import ConfigError

    agents = {agent["name"] for agent in config["agents"]}
    players: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        if name in REFERENCE_PRICERS:
            players[name] = reference_pricer(name, kappa=float(config["pricing"]["reference_kappa"]))
            continue
        if name != "base" and name not in agents:
            raise ConfigError(f"{name!r} is neither a reference pricer nor an agent of the config")
        if model is None:
            raise ConfigError(f"firm {name!r} is a language model agent; pass --model")
        adapter = adapter_dir(name, adapters)
        from econalign.model.agent import load_agent
        from econalign.model.buckets import Buckets

        # A period scores only a few prompts per agent: small batch shapes avoid padding them to a full batch.
        buckets = Buckets(small_batches=SMALL_BATCHES)
        dtype = config["model"]["dtype"]
        players[name] = load_agent(model, adapter=adapter, dtype=dtype, buckets=buckets, progress=False)
    return players


def adapter_dir(name: str, adapters: Path | None) -> Path | None:
    """The adapter directory of an LLM firm: ``{adapters}/{name}/adapter``, None for ``base``.

    Raises:
        ConfigError: An aligned agent plays but no ``adapters`` folder was given (``econalign pricing`` exits with
            status 2).
    """
    from econalign.config import ConfigError

    if name == "base":
        return None
    if adapters is None:
        raise ConfigError(f"firm {name!r} needs --adapters")
    return adapters / name / "adapter"


def partial_path(out: Path) -> Path:
    """Where the partial log of ``out`` lives while a run is in progress."""
    return out.with_name(f"{out.stem}.partial.parquet")


def provenance_path(out: Path) -> Path:
    """``results/pricing/a__b.parquet`` -> ``results/pricing/a__b.provenance.json``."""
    return out.with_name(f"{out.stem}.provenance.json")


def _resume(setup: PricingSetup, out: Path) -> pl.DataFrame | None:
    partial = partial_path(out)
    if not partial.exists():
        return None
    log = pl.read_parquet(partial)
    if set(log["run_key"].unique().to_list()) != {setup.run_key()}:
        logger.warning("ignoring %s: it was made with other settings", partial)
        return None
    logger.info("resuming %s from %s (%d rows)", setup.pairing, partial, log.height)
    return log


def run_pairings(
    config: Mapping[str, Any],
    outs: Mapping[str, Path],
    *,
    model: Path | None = None,
    adapters: Path | None = None,
) -> dict[str, pl.DataFrame]:
    """Run (or resume) pairings in lockstep and write each log, its provenance, and partial logs along the way.

    A pairing's provenance adds to ``econalign.io.provenance`` its ``pairing``, ``run_key`` and ``rows``, and, for
    each LLM firm by name (reference pricers have none), ``firm_model_sha256`` (the base weights' sha256),
    ``firm_adapter`` (its adapter directory, ``{adapters}/{name}/adapter``, null for ``base``) and
    ``firm_adapter_hash`` (``econalign.io.adapter_hash`` of it, ``"none"`` for ``base``).

    Args:
        config: The resolved configuration.
        outs: Pairing (``"firm0__firm1"``) -> output parquet.
        model: Base model directory.
        adapters: Folder of agents' adapters.

    Returns:
        Pairing -> complete log.
    """
    from econalign.config import without_report_settings
    from econalign.io import adapter_hash, provenance, write_json, write_parquet

    players = build_players(
        (name for pairing in outs for name in split_pairing(pairing)), config, model=model, adapters=adapters
    )
    # Each LLM firm's adapter, hashed once per run (right after loading, before the simulation starts).
    llm_adapters = {name: adapter_dir(name, adapters) for name in players if name not in REFERENCE_PRICERS}
    llm_hashes = {name: adapter_hash(path) for name, path in llm_adapters.items()}
    # A partial log is resumed only if the same weights played it (new adapters keep the firm's name).
    identities = {
        name: f"model={getattr(players[name], 'model_sha256', None)} adapter={llm_hashes[name]} "
        f"dtype={config['model']['dtype']}"
        for name in llm_adapters
    }
    setups = [PricingSetup.from_config(config, pairing, identities=identities) for pairing in outs]
    resumes = {setup.pairing: log for setup in setups if (log := _resume(setup, outs[setup.pairing])) is not None}
    logs = simulate_many(
        setups,
        players,
        resumes=resumes,
        checkpoint=lambda pairing, frame: write_parquet(partial_path(outs[pairing]), frame),
        checkpoint_every=int(config["pricing"]["checkpoint_every"]),
    )
    for setup in setups:
        out, log = outs[setup.pairing], logs[setup.pairing]
        write_parquet(out, log)
        shas = {name: getattr(players[name], "model_sha256", None) for name in dict.fromkeys(setup.firms)}
        shas = {name: sha for name, sha in shas.items() if sha is not None}
        llm_firms = [name for name in dict.fromkeys(setup.firms) if name in llm_adapters]
        record = provenance(
            without_report_settings(config),  # the report's metric settings played no part in the log
            model_sha256=next(iter(shas.values()), None),
            pairing=setup.pairing,
            run_key=setup.run_key(),
            rows=log.height,
            firm_model_sha256=shas,
            firm_adapter={name: _posix(llm_adapters[name]) for name in llm_firms},
            firm_adapter_hash={name: llm_hashes[name] for name in llm_firms},
        )
        write_json(provenance_path(out), record)
        partial_path(out).unlink(missing_ok=True)
    return logs


def _posix(path: Path | None) -> str | None:
    return None if path is None else path.as_posix()


def run_pairing(
    config: Mapping[str, Any], pairing: str, *, out: Path, model: Path | None = None, adapters: Path | None = None
) -> pl.DataFrame:
    """Run (or resume) one pairing (``run_pairings`` with one output)."""
    return run_pairings(config, {pairing: out}, model=model, adapters=adapters)[pairing]
