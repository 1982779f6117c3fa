import numpy as np
import polars as pl
import pytest

from econalign.applications.duopoly import PricingSetup, simulate
from econalign.applications.pricing_metrics import (
    episode_metrics,
    episode_prices,
    firm_metrics,
    pairing_table,
    price_index,
    price_wars,
    settled_since,
)
from econalign.applications.pricing_run import build_players
from econalign.config import validate_config
from econalign.theory.market import LogitDuopoly


def test_price_wars_are_runs_of_falling_prices():
    assert price_wars([5, 4, 3, 2, 2, 3, 2, 1], min_length=3) == [(1, 3)]
    assert price_wars([5, 4, 3, 2, 2, 3, 2, 1], min_length=2) == [(1, 3), (6, 2)]
    assert price_wars([1, 2, 3], min_length=1) == []
    assert price_wars([3, 2, 1], min_length=2) == [(1, 2)]


def test_settled_since():
    assert settled_since(np.array([[1, 1], [2, 2], [2, 2]])) == 1
    assert settled_since(np.array([[1, 2], [2, 1], [1, 2]])) == 2
    assert settled_since(np.array([[4, 4]] * 3)) == 0


def test_price_index_is_zero_at_nash_and_one_at_monopoly():
    market = LogitDuopoly(alpha=3.2)
    assert price_index(market.nash_price(), market) == pytest.approx(0.0, abs=1e-9)
    assert price_index(market.monopoly_price(), market) == pytest.approx(1.0)


def test_metrics_of_reference_play():
    config = validate_config({"pricing": {"alphas": [1.0], "periods": 12, "episodes": 2, "initial_prices": "random"}})
    logs = []
    for pairing in ["monopoly__monopoly", "tit_for_tat__exact_moralis"]:
        setup = PricingSetup.from_config(config, pairing)
        logs.append(simulate(setup, build_players(setup.firms, config, model=None, adapters=None)))
    log = pl.concat(logs)
    firms = firm_metrics(log, pricing_config=config["pricing"], window=4)
    episodes = episode_metrics(log, window=4, price_war_length=2)
    market = LogitDuopoly(alpha=1.0)
    monopoly = firms.filter(pl.col("pairing") == "monopoly__monopoly")
    price = monopoly["mean_price"][0]
    assert monopoly["profit_gain"].to_list() == pytest.approx([market.profit_gain(market.profit(price, price))] * 4)
    assert monopoly["price_index"][0] == pytest.approx(
        (price - market.nash_price()) / (market.monopoly_price() - market.nash_price())
    )
    assert (monopoly["price_change_rate"] == 0).all()
    by_hand = log.filter(
        (pl.col("pairing") == "tit_for_tat__exact_moralis") & (pl.col("period") > 8) & (pl.col("firm") == 1)
    )
    for episode in (0, 1):
        row = firms.filter(
            (pl.col("pairing") == "tit_for_tat__exact_moralis") & (pl.col("episode") == episode) & (pl.col("firm") == 1)
        )
        part = by_hand.filter(pl.col("episode") == episode)
        assert row["mean_price"][0] == pytest.approx(part["price"].mean())
        assert row["mean_profit"][0] == pytest.approx(part["profit"].mean())
    assert episodes.filter(pl.col("pairing") == "monopoly__monopoly")["converged"].all()
    assert episodes.filter(pl.col("pairing") == "monopoly__monopoly")["settled_period"].to_list() == [1, 1]
    table = pairing_table(firms, episodes)
    assert table.height == 2 and (table["episodes"] == 2).all()
    row = table.filter(pl.col("pairing") == "tit_for_tat__exact_moralis").row(0, named=True)
    pair = firms.filter(pl.col("pairing") == "tit_for_tat__exact_moralis")
    assert row["profit_gain"] == pytest.approx(pair["profit_gain"].mean())
    assert row["profit_gain_firm1"] == pytest.approx(pair.filter(pl.col("firm") == 1)["profit_gain"].mean())


def test_price_level_uncertainty_is_measured_across_episodes():
    rows = [
        # pairing, episode, firm, mean_price
        ("a__a", 0, 0, 1.50),
        ("a__a", 0, 1, 1.70),
        ("a__a", 1, 0, 1.65),
        ("a__a", 1, 1, 1.65),
        ("a__a", 2, 0, 1.40),
        ("a__a", 2, 1, 1.60),
        ("b__b", 0, 0, 1.90),
        ("b__b", 0, 1, 1.80),
    ]
    firms = pl.DataFrame(
        {
            "pairing": [r[0] for r in rows],
            "alpha": [1.0] * len(rows),
            "episode": [r[1] for r in rows],
            "firm": [r[2] for r in rows],
            "mean_price": [r[3] for r in rows],
            "price_index": [0.5] * len(rows),
            "profit_gain": [0.5] * len(rows),
            "top_price_share": [None] * len(rows),
        },
        schema_overrides={"top_price_share": pl.Float64},
    )
    prices = episode_prices(firms)
    assert prices.filter(pl.col("pairing") == "a__a")["mean_price"].to_list() == pytest.approx([1.60, 1.65, 1.50])
    episodes = pl.DataFrame(
        {
            "pairing": ["a__a"] * 3 + ["b__b"],
            "alpha": [1.0] * 4,
            "episode": [0, 1, 2, 0],
            "converged": [False] * 4,
            "price_wars": [0] * 4,
        }
    )
    table = pairing_table(firms, episodes)
    a = table.filter(pl.col("pairing") == "a__a").row(0, named=True)
    assert a["mean_price"] == pytest.approx(1.5833, abs=1e-4)
    assert a["mean_price_se"] == pytest.approx(np.std([1.60, 1.65, 1.50], ddof=1) / np.sqrt(3))
    assert table.filter(pl.col("pairing") == "b__b")["mean_price_se"][0] is None  # one episode: no spread


def test_top_price_share_counts_decisions_rating_the_usual_price_highest():
    config = validate_config({"pricing": {"alphas": [1.0], "periods": 12, "episodes": 2}})
    setup = PricingSetup.from_config(config, "tit_for_tat__exact_moralis")
    log = simulate(setup, build_players(setup.firms, config, model=None, adapters=None))
    grid = int(config["pricing"]["grid_size"])

    def logprobs(period: int) -> list[float]:
        # Grid index 3 rated highest, except every fourth period (index 5): 9 of the 12 decisions.
        top = 5 if period % 4 == 0 else 3
        return [0.0 if k == top else -2.0 - k for k in range(grid)]

    log = log.with_columns(
        pl.when(pl.col("firm") == 0)
        .then(pl.col("period").map_elements(logprobs, return_dtype=pl.List(pl.Float64)))
        .otherwise(None)
        .alias("logprobs")
    )
    # Over the whole episode (9 of 12), not the last 3 periods (2 of 3).
    firms = firm_metrics(log, pricing_config=config["pricing"], window=3)
    assert firms.filter(pl.col("firm") == 0)["top_price_share"].to_list() == pytest.approx([0.75, 0.75])
    assert firms.select(["pairing", "alpha", "episode", "firm"]).rows() == sorted(
        firms.select(["pairing", "alpha", "episode", "firm"]).rows()
    )
    assert firms.filter(pl.col("firm") == 1)["top_price_share"].is_null().all()  # a reference pricer
    table = pairing_table(firms, episode_metrics(log, window=3, price_war_length=2))
    assert table["top_price_share"].to_list() == pytest.approx([0.75])
