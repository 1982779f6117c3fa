import numpy as np
import polars as pl
import pytest
from scipy import optimize

from econalign.applications.duopoly import PricingSetup, simulate
from econalign.applications.pricing_metrics import (
    episode_metrics,
    episode_prices,
    firm_metrics,
    pairing_table,
    price_index,
    price_wars,
    profit_gain,
    settled_since,
)
from econalign.applications.pricing_run import build_players
from econalign.config import validate_config
from econalign.theory.market import LogitDuopoly

# -- an independent Calvano et al. (2020) logit duopoly, written from SCIENCE.md (not econalign.theory.market) ------
# q_i = beta exp((a - p_i/alpha)/mu) / (exp((a - p_i/alpha)/mu) + exp((a - p_j/alpha)/mu) + exp(a0/mu)),
# pi_i = (p_i - alpha c) q_i, with a = 2, a0 = 0, mu = 0.25, c = 1, beta = 100 (the config's market).
A, A0, MU, C, BETA = 2.0, 0.0, 0.25, 1.0, 100.0


def _share(p_i, p_j, alpha):
    e_i, e_j, e_0 = (np.exp(v / MU) for v in (A - p_i / alpha, A - p_j / alpha, A0))
    return e_i / (e_i + e_j + e_0)


def _profit(p_i, p_j, alpha):
    return (p_i - alpha * C) * BETA * _share(p_i, p_j, alpha)


def _moralis_price(kappa, alpha):
    """Symmetric price solving d/dp [(1 - kappa) pi(p, p*) + kappa pi(p, p)] = 0 at p = p*.

    With markup m = p - alpha c and share s: d pi_i/d p_i = beta s (1 - m (1 - s) / (alpha mu)) and
    d pi(p, p)/dp = beta s (1 - m (1 - 2 s) / (alpha mu)), so the condition is m (1 - (1 + kappa) s) = alpha mu:
    kappa = 0 is Bertrand-Nash, kappa = 1 joint monopoly.
    """

    def condition(p):
        return (p - alpha * C) * (1.0 - (1.0 + kappa) * _share(p, p, alpha)) - alpha * MU

    return optimize.brentq(condition, alpha * C, alpha * (C + 3.0), xtol=1e-14)


def _argmax(f, alpha):
    bounds = (alpha * C, alpha * (C + 3.0))
    return optimize.minimize_scalar(lambda p: -f(p), bounds=bounds, method="bounded", options={"xatol": 1e-10}).x


def _benchmarks(alpha):
    """Nash and monopoly prices and per-firm profits, each found two ways (first-order condition, direct search)."""
    nash, monopoly = _moralis_price(0.0, alpha), _moralis_price(1.0, alpha)
    assert _argmax(lambda p: _profit(p, nash, alpha), alpha) == pytest.approx(nash, abs=1e-6 * alpha)  # best reply
    assert _argmax(lambda p: _profit(p, p, alpha), alpha) == pytest.approx(monopoly, abs=1e-6 * alpha)  # joint max
    return nash, monopoly, _profit(nash, nash, alpha), _profit(monopoly, monopoly, alpha)


def _delta(profit, alpha):
    """Calvano's profit gain (pi - pi_N) / (pi_M - pi_N)."""
    _, _, pi_nash, pi_monopoly = _benchmarks(alpha)
    return (profit - pi_nash) / (pi_monopoly - pi_nash)


def test_the_independent_market_reproduces_the_science_sheet_table():
    """SCIENCE.md's benchmarks at alpha = 1 (profits per firm at beta = 1): the reference below is the right one."""
    nash, monopoly, pi_nash, pi_monopoly = _benchmarks(1.0)
    assert (nash, monopoly) == pytest.approx((1.4729, 1.9250), abs=5e-5)
    assert (pi_nash / BETA, pi_monopoly / BETA) == pytest.approx((0.2229, 0.3375), abs=5e-5)
    for kappa, price, gain in [(0.25, 1.5829, 0.379), (0.5, 1.7106, 0.734), (0.75, 1.8293, 0.944)]:
        p = _moralis_price(kappa, 1.0)
        assert p == pytest.approx(price, abs=5e-5)
        assert _delta(_profit(p, p, 1.0), 1.0) == pytest.approx(gain, abs=5e-4)


@pytest.mark.parametrize("alpha", [1.0, 3.2, 10.0])
def test_profit_gain_is_calvanos_index_against_independent_benchmarks(alpha):
    market = LogitDuopoly(alpha=alpha)
    nash, _, pi_nash, pi_monopoly = _benchmarks(alpha)
    assert profit_gain(pi_nash, market) == pytest.approx(0.0, abs=1e-7)
    assert profit_gain(pi_monopoly, market) == pytest.approx(1.0, abs=1e-7)
    for kappa in (0.25, 0.5, 0.75):
        p = _moralis_price(kappa, alpha)
        assert profit_gain(_profit(p, p, alpha), market) == pytest.approx(_delta(_profit(p, p, alpha), alpha), abs=1e-7)
    # Below Nash (a price war) the index is negative; it is affine in the profit, with slope 1 / (pi_M - pi_N).
    low = _profit(0.9 * nash + 0.1 * alpha * C, 0.9 * nash + 0.1 * alpha * C, alpha)
    assert profit_gain(low, market) == pytest.approx((low - pi_nash) / (pi_monopoly - pi_nash), abs=1e-7)
    assert profit_gain(low, market) < 0


def test_firm_metrics_give_zero_at_nash_prices_and_one_at_monopoly_prices():
    """Hand-made logs: both firms hold the Nash, the monopoly or the kappa = 0.5 price for five periods, with the
    profits of the independent market; firm_metrics' profit gain and price index are 0, 1 and the closed form."""
    rows = []
    for alpha in (1.0, 3.2):
        nash, monopoly, _, _ = _benchmarks(alpha)
        prices = {"nash": nash, "monopoly": monopoly, "moralis": _moralis_price(0.5, alpha)}
        for pairing, price in prices.items():
            for period in range(1, 6):
                for firm in (0, 1):
                    rows.append(
                        {
                            "pairing": f"{pairing}__{pairing}",
                            "alpha": alpha,
                            "episode": 0,
                            "period": period,
                            "firm": firm,
                            "agent": pairing,
                            "rival": pairing,
                            "price_index": 7,
                            "price": price,
                            "profit": _profit(price, price, alpha),
                            "logprobs": None,
                        }
                    )
    log = pl.DataFrame(rows, schema_overrides={"logprobs": pl.List(pl.Float64)})
    config = validate_config({"pricing": {"alphas": [1.0, 3.2]}})
    firms = firm_metrics(log, pricing_config=config["pricing"], window=3)
    assert firms.height == 2 * 3 * 2
    for (pairing, alpha), part in firms.group_by(["pairing", "alpha"]):
        nash, monopoly, _, _ = _benchmarks(alpha)
        price = part["mean_price"][0]
        expected_gain = {"nash__nash": 0.0, "monopoly__monopoly": 1.0}.get(
            pairing, _delta(_profit(price, price, alpha), alpha)
        )
        np.testing.assert_allclose(part["profit_gain"], expected_gain, atol=1e-7)
        np.testing.assert_allclose(part["price_index"], (price - nash) / (monopoly - nash), atol=1e-7)
    moralis = firms.filter(pl.col("pairing") == "moralis__moralis")["profit_gain"]
    np.testing.assert_allclose(moralis, 0.734, atol=5e-4)  # SCIENCE.md's kappa = 0.5 row


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
    # Delta at the grid price nearest the monopoly price, from the independent market above (not the pricer's own).
    assert monopoly["profit_gain"].to_list() == pytest.approx([_delta(_profit(price, price, 1.0), 1.0)] * 4, abs=1e-7)
    assert 0.99 < monopoly["profit_gain"][0] <= 1.0
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
