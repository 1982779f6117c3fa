"""Repeated duopoly pricing (``econalign pricing``): the period-by-period simulator and its command.

Two firms meet in a logit market (``econalign.theory.market.LogitDuopoly``) for T periods, in every configured
currency scale alpha and episode at once. Each period every LLM firm sees its market description, cost and last H
periods, and picks a grid price by sampling its choice probabilities (seeded, at the configured temperature, or
greedily at temperature 0); reference pricers apply their rule. Several pairings can run in lockstep: all LLM
decisions of a period played by the same agent (every pairing, alpha, episode and firm) are scored in one
``choice_logprobs`` call.

The per-period log (one row per firm and period) replays and audits an episode: it holds each LLM firm's prompt,
the letters and log-probabilities of every grid price and the seed of the draw. Draw seeds depend only on (seed,
pairing, alpha, episode, period, firm), so a run resumed from a partial log is identical to an uninterrupted one.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.special import softmax

from econalign.applications.pairings import split_pairing
from econalign.applications.pricing_agents import FirmView, market_grid
from econalign.applications.pricing_prompts import grid_labels, render_pricing_prompt
from econalign.io import derive_seed
from econalign.theory.market import LogitDuopoly

__all__ = ["LOG_SCHEMA", "PricingSetup", "add_arguments", "choose_index", "main", "simulate", "simulate_many"]

logger = logging.getLogger(__name__)

LOG_SCHEMA: dict[str, Any] = {
    "pairing": pl.String,
    "run_key": pl.String,
    "alpha": pl.Float64,
    "episode": pl.Int64,
    "period": pl.Int64,
    "firm": pl.Int64,
    "agent": pl.String,
    "rival": pl.String,
    "kind": pl.String,
    "price_index": pl.Int64,
    "price": pl.Float64,
    "rival_price": pl.Float64,
    "quantity": pl.Float64,
    "profit": pl.Float64,
    "labels": pl.String,
    "logprobs": pl.List(pl.Float64),
    "p_chosen": pl.Float64,
    "draw_seed": pl.Int64,
    "prompt": pl.String,
}
"""``results/pricing/{pairing}.parquet``, one row per (alpha, episode, period, firm), sorted so.

``pairing``; ``run_key`` (hash of the settings a log prefix depends on); ``alpha``, ``episode``, ``period`` (1..T;
0 is the random opening when ``initial_prices: random``); ``firm`` (0, 1) with its name ``agent`` and the ``rival``'s;
``kind`` (llm, reference or opening); ``price_index`` (grid index), ``price``, ``rival_price``, ``quantity``,
``profit`` (from ``LogitDuopoly``); LLM rows only: ``labels`` (letter of each grid price, in grid order),
``logprobs`` (of each grid price's decision line, grid order), ``p_chosen`` (probability of the chosen price under
the sampling temperature), ``draw_seed`` (seed of the draw; also set for openings) and ``prompt`` (chat messages,
JSON)."""


@dataclasses.dataclass(frozen=True)
class PricingSetup:
    """Everything that determines one pairing's simulation.

    Attributes:
        pairing: ``"firm0__firm1"``.
        alphas: Currency scales, one market each.
        episodes: Episodes per alpha.
        periods: Periods per episode.
        history: Past periods shown to an LLM firm.
        temperature: Sampling temperature (0: greedy).
        grid_size: Number of grid prices.
        label_order: Letters of the grid prices (``pricing_prompts.LABEL_ORDERS``).
        initial_prices: ``none`` or ``random`` (a period 0 of uniform grid prices).
        market: Logit demand parameters other than alpha.
        seed: The study's seed.
        players: What each firm is beyond its name, ``((firm, identity), ...)``: ``exact_moralis``'s κ, an LLM
            firm's weights and adapter hashes. Part of the run key, so a partial log played by other firms under
            the same names is never resumed.
    """

    pairing: str
    alphas: tuple[float, ...]
    episodes: int
    periods: int
    history: int
    temperature: float
    grid_size: int
    label_order: str
    initial_prices: str
    market: tuple[tuple[str, float], ...]
    seed: int
    players: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], pairing: str, *, identities: Mapping[str, str] | None = None
    ) -> PricingSetup:
        """Build the setup of ``pairing`` from a resolved configuration.

        Args:
            config: The resolved configuration.
            pairing: ``"firm0__firm1"``.
            identities: Firm name -> what it is (an LLM firm's hashes); ``exact_moralis``'s κ is read from the
                config.
        """
        firms = split_pairing(pairing)
        pricing = config["pricing"]
        known = {"exact_moralis": f"kappa={float(pricing['reference_kappa'])!r}", **(identities or {})}
        return cls(
            pairing=pairing,
            alphas=tuple(float(alpha) for alpha in pricing["alphas"]),
            episodes=int(pricing["episodes"]),
            periods=int(pricing["periods"]),
            history=int(pricing["history"]),
            temperature=float(pricing["temperature"]),
            grid_size=int(pricing["grid_size"]),
            label_order=str(pricing["label_order"]),
            initial_prices=str(pricing["initial_prices"]),
            market=tuple(sorted((key, float(value)) for key, value in pricing["market"].items())),
            seed=int(config["seed"]),
            players=tuple((firm, known[firm]) for firm in dict.fromkeys(firms) if firm in known),
        )

    @property
    def firms(self) -> tuple[str, str]:
        """The two firms' names."""
        return split_pairing(self.pairing)

    def market_of(self, alpha: float) -> LogitDuopoly:
        """The market at currency scale ``alpha``."""
        return LogitDuopoly(alpha=alpha, **dict(self.market))

    def run_key(self) -> str:
        """Hash of every setting a log prefix depends on (all but ``periods``, so a longer run extends a shorter)."""
        fields = dataclasses.asdict(self)
        del fields["periods"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def draw_seed(self, alpha: float, episode: int, period: int, firm: int | str) -> int:
        """Seed of one random draw; independent of how the run was split into resumed pieces."""
        return derive_seed(self.seed, "pricing", self.pairing, repr(float(alpha)), episode, period, firm)


def choose_index(logprobs: np.ndarray, *, temperature: float, rng: np.random.Generator) -> tuple[int, float]:
    """Pick a grid index from choice log-probabilities.

    Args:
        logprobs: Summed log-probability of each grid price's continuation, shape ``[G]``.
        temperature: 0 picks the most likely price (the lowest index on a tie); otherwise sample from
            softmax(logprobs / temperature).
        rng: Generator of this draw.

    Returns:
        ``(index, probability of the index under the sampling distribution)``.

    Example:
        >>> choose_index(np.log([0.2, 0.5, 0.3]), temperature=0.0, rng=np.random.default_rng(0))
        (1, 1.0)
    """
    logprobs = np.asarray(logprobs, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logprobs)), 1.0
    probabilities = softmax(logprobs / temperature)
    index = int(rng.choice(len(probabilities), p=probabilities))
    return index, float(probabilities[index])


@dataclasses.dataclass
class _Episode:
    alpha: float
    episode: int
    market: LogitDuopoly
    grid: np.ndarray
    periods: list[int] = dataclasses.field(default_factory=list)
    index: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    quantity: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    profit: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def view(self, firm: int, period: int) -> FirmView:
        rival = 1 - firm
        return FirmView(
            market=self.market,
            grid=self.grid,
            period=period,
            own_index=tuple(pair[firm] for pair in self.index),
            rival_index=tuple(pair[rival] for pair in self.index),
            own_quantity=tuple(pair[firm] for pair in self.quantity),
            own_profit=tuple(pair[firm] for pair in self.profit),
            history_periods=tuple(self.periods),
        )

    def record(self, period: int, indices: tuple[int, int]) -> list[dict[str, Any]]:
        prices = [float(self.grid[i]) for i in indices]
        quantities = (self.market.demand(prices[0], prices[1]), self.market.demand(prices[1], prices[0]))
        profits = (self.market.profit(prices[0], prices[1]), self.market.profit(prices[1], prices[0]))
        self.periods.append(period)
        self.index.append(indices)
        self.quantity.append(quantities)
        self.profit.append(profits)
        return [
            {
                "alpha": self.alpha,
                "episode": self.episode,
                "period": period,
                "firm": firm,
                "price_index": int(indices[firm]),
                "price": prices[firm],
                "rival_price": prices[1 - firm],
                "quantity": float(quantities[firm]),
                "profit": float(profits[firm]),
            }
            for firm in (0, 1)
        ]


def _prompt_for(view: FirmView, history: int, labels: list[str]) -> Any:
    shown = slice(max(0, len(view.history_periods) - history), None) if history > 0 else slice(0, 0)
    return render_pricing_prompt(
        cost=view.market.cost,
        grid=view.grid,
        labels=labels,
        period=view.period,
        own_prices=[float(view.grid[i]) for i in view.own_index[shown]],
        rival_prices=[float(view.grid[i]) for i in view.rival_index[shown]],
        own_quantities=view.own_quantity[shown],
        own_profits=view.own_profit[shown],
        history_periods=view.history_periods[shown],
    )


def _restore(setup: PricingSetup, episodes: dict[tuple[float, int], _Episode], log: pl.DataFrame) -> int:
    """Replay a partial log into the episode states; return the last complete period (-1 if none)."""
    if log.height == 0:
        return -1
    keys = set(log["run_key"].unique().to_list())
    if keys != {setup.run_key()}:
        raise ValueError(f"partial log was made with other settings (run keys {sorted(keys)}, now {setup.run_key()})")
    if set(log.select("alpha", "episode").unique().rows()) != set(episodes):
        raise ValueError("partial log does not hold the same periods for every episode")
    periods_seen: set[tuple[int, ...]] = set()
    for (alpha, episode), part in log.sort(["alpha", "episode", "period", "firm"]).group_by(
        ["alpha", "episode"], maintain_order=True
    ):
        periods, indices = part["period"].to_list(), part["price_index"].to_list()
        if len(periods) % 2 or part["firm"].to_list() != [0, 1] * (len(periods) // 2):
            raise ValueError(f"partial log rows of alpha={alpha}, episode={episode} are not firm pairs")
        for row in range(0, len(periods), 2):
            episodes[(float(alpha), int(episode))].record(periods[row], (indices[row], indices[row + 1]))
        periods_seen.add(tuple(periods[::2]))
    if len(periods_seen) != 1:
        raise ValueError("partial log does not hold the same periods for every episode")
    (periods,) = periods_seen
    first = 0 if setup.initial_prices == "random" else 1
    if list(periods) != list(range(first, first + len(periods))):
        raise ValueError(f"partial log periods {periods[:3]}... do not start at {first} without gaps")
    return periods[-1]


@dataclasses.dataclass
class _Run:
    """One pairing in progress: its episodes, the rows kept from a partial log and the rows simulated since."""

    setup: PricingSetup
    episodes: dict[tuple[float, int], _Episode]
    previous: pl.DataFrame
    next_period: int
    end: int
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def frame(self) -> pl.DataFrame:
        new = pl.DataFrame(self.rows, schema=LOG_SCHEMA)
        return pl.concat([self.previous.select(list(LOG_SCHEMA)), new]).sort(["alpha", "episode", "period", "firm"])


def _start(setup: PricingSetup, resume: pl.DataFrame | None, until_period: int | None) -> _Run:
    episodes = {
        (alpha, e): _Episode(alpha, e, setup.market_of(alpha), market_grid(setup.market_of(alpha), setup.grid_size))
        for alpha in setup.alphas
        for e in range(setup.episodes)
    }
    previous = pl.DataFrame(schema=LOG_SCHEMA)
    if resume is not None:
        # A partial log of a longer run (the run key leaves out ``periods``) gives only this run's periods.
        previous = resume.filter(pl.col("period") <= setup.periods)
    last = _restore(setup, episodes, previous)
    first = 0 if setup.initial_prices == "random" else 1
    end = setup.periods if until_period is None else min(until_period, setup.periods)
    return _Run(setup, episodes, previous, max(first, last + 1), end)


def simulate_many(
    setups: Sequence[PricingSetup],
    players: Mapping[str, Any],
    *,
    resumes: Mapping[str, pl.DataFrame] | None = None,
    until_period: int | None = None,
    checkpoint: Callable[[str, pl.DataFrame], None] | None = None,
    checkpoint_every: int = 5,
) -> dict[str, pl.DataFrame]:
    """Simulate several pairings in lockstep, period by period; each agent scores all its decisions at once.

    Args:
        setups: One per pairing (distinct pairings).
        players: Firm name -> a reference pricer (with ``choose(view)``) or an agent (with ``choice_logprobs``);
            a name shared by several firms is one object, scored in one call per period.
        resumes: Pairing -> a partial log of the same setup to continue from (its rows are kept as they are).
        until_period: Stop after this period (for tests and partial runs); default each setup's ``periods``.
        checkpoint: Called with ``(pairing, log so far)`` every ``checkpoint_every`` periods of that pairing.
        checkpoint_every: Periods between checkpoints.

    Returns:
        Pairing -> per-period log (``LOG_SCHEMA``), sorted by alpha, episode, period and firm.
    """
    resumes = resumes or {}
    runs = [_start(setup, resumes.get(setup.pairing), until_period) for setup in setups]
    if len({run.setup.pairing for run in runs}) != len(runs):
        raise ValueError("pairings must be distinct")
    periods = [run.next_period for run in runs] + [run.end + 1 for run in runs]
    for period in range(min(periods), max(periods)):
        active = [run for run in runs if run.next_period <= period <= run.end]
        if not active:
            continue
        started = time.perf_counter()
        decisions = _decide(active, players, period)
        for run in active:
            names = run.setup.firms
            shared = {"pairing": run.setup.pairing, "run_key": run.setup.run_key()}
            for key, state in run.episodes.items():
                chosen = decisions[(run.setup.pairing, *key)]
                for firm, row in enumerate(state.record(period, (chosen[0]["index"], chosen[1]["index"]))):
                    decision = chosen[firm]
                    run.rows.append(
                        {
                            **shared,
                            **row,
                            "agent": names[firm],
                            "rival": names[1 - firm],
                            "kind": decision["kind"],
                            **{field: decision.get(field) for field in _DECISION_FIELDS},
                        }
                    )
            first = 0 if run.setup.initial_prices == "random" else 1
            if checkpoint is not None and period < run.end and (period - first + 1) % checkpoint_every == 0:
                checkpoint(run.setup.pairing, run.frame())
        logger.info("period %d of %d pairing(s) in %.1f s", period, len(active), time.perf_counter() - started)
    return {run.setup.pairing: run.frame() for run in runs}


_DECISION_FIELDS = ("labels", "logprobs", "p_chosen", "draw_seed", "prompt")


def simulate(
    setup: PricingSetup,
    players: Mapping[str, Any],
    *,
    resume: pl.DataFrame | None = None,
    until_period: int | None = None,
    checkpoint: Callable[[pl.DataFrame], None] | None = None,
    checkpoint_every: int = 5,
) -> pl.DataFrame:
    """Simulate every episode of one pairing (``simulate_many`` with a single setup).

    Args:
        setup: The pairing's settings.
        players: Firm name -> reference pricer or agent.
        resume: A partial log of the same setup to continue from.
        until_period: Stop after this period.
        checkpoint: Called with the log so far every ``checkpoint_every`` periods.
        checkpoint_every: Periods between checkpoints.

    Returns:
        The per-period log.
    """
    logs = simulate_many(
        [setup],
        players,
        resumes=None if resume is None else {setup.pairing: resume},
        until_period=until_period,
        checkpoint=None if checkpoint is None else (lambda _, frame: checkpoint(frame)),
        checkpoint_every=checkpoint_every,
    )
    return logs[setup.pairing]


def _decide(runs: Sequence[_Run], players: Mapping[str, Any], period: int) -> dict[tuple, list[dict[str, Any]]]:
    """Every firm's decision in ``period``: rules now, LLM firms in one scoring call per agent."""
    decisions: dict[tuple, list[dict[str, Any]]] = {}
    pending: dict[str, list[tuple[tuple, int, PricingSetup, list[str], Any]]] = {}
    for run in runs:
        setup = run.setup
        for (alpha, e), state in run.episodes.items():
            key = (setup.pairing, alpha, e)
            decisions[key] = [{}, {}]
            if period == 0:
                seed = setup.draw_seed(alpha, e, 0, "opening")
                opening = np.random.default_rng(seed).integers(len(state.grid), size=2)
                for firm in (0, 1):
                    decisions[key][firm] = {"kind": "opening", "index": int(opening[firm]), "draw_seed": seed}
                continue
            for firm, name in enumerate(setup.firms):
                player = players[name]
                view = state.view(firm, period)
                if hasattr(player, "choose"):
                    decisions[key][firm] = {"kind": "reference", "index": int(player.choose(view))}
                    continue
                shuffle = np.random.default_rng(setup.draw_seed(alpha, e, period, f"labels{firm}"))
                labels = grid_labels(len(state.grid), order=setup.label_order, rng=shuffle)
                prompt = _prompt_for(view, setup.history, labels)
                pending.setdefault(name, []).append((key, firm, setup, labels, prompt))
    for name, items in pending.items():
        prompts = [prompt for *_, prompt in items]
        scores = players[name].choice_logprobs([p.messages for p in prompts], [p.continuations for p in prompts])
        for (key, firm, setup, labels, prompt), logprobs in zip(items, scores, strict=True):
            seed = setup.draw_seed(key[1], key[2], period, firm)
            index, probability = choose_index(logprobs, temperature=setup.temperature, rng=np.random.default_rng(seed))
            decisions[key][firm] = {
                "kind": "llm",
                "index": index,
                "labels": "".join(labels),
                "logprobs": [float(v) for v in logprobs],
                "p_chosen": probability,
                "draw_seed": seed,
                "prompt": json.dumps(prompt.messages, ensure_ascii=False),
            }
    return decisions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign pricing``."""
    from econalign.cli import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument(
        "--pairing",
        action="append",
        required=True,
        help="firm0__firm1 (agent names, base included, or reference pricers); repeat to run pairings in lockstep",
    )
    parser.add_argument("--model", type=Path, default=None, help="HF-layout base model directory (for LLM firms)")
    parser.add_argument("--adapters", type=Path, default=None, help="folder holding {agent}/adapter (results/finetune)")
    outputs = parser.add_mutually_exclusive_group(required=True)
    outputs.add_argument("--out", type=Path, help="output parquet of a single pairing (per-period log)")
    outputs.add_argument("--out-dir", type=Path, help="output folder: one {pairing}.parquet per pairing")


def main(args: argparse.Namespace) -> int:
    """Run ``econalign pricing`` for one pairing (``--out``) or several in lockstep (``--out-dir``)."""
    from econalign.applications.pricing_run import run_pairings
    from econalign.cli import config_from_args
    from econalign.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = config_from_args(args)
    pairings = list(dict.fromkeys(args.pairing))
    if args.out is not None and len(pairings) != 1:
        raise ConfigError("--out takes one pairing; use --out-dir for several")
    outs = {pairings[0]: args.out} if args.out is not None else {p: args.out_dir / f"{p}.parquet" for p in pairings}
    run_pairings(config, outs, model=args.model, adapters=args.adapters)
    return 0
