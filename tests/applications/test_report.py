import copy
import json

import numpy as np
import polars as pl
import pytest
import scipy.stats

from econalign.applications.av import av_scenarios, score_av
from econalign.applications.duopoly import PricingSetup, simulate_many
from econalign.applications.pairings import pricing_pairings
from econalign.applications.pricing_metrics import pairing_table
from econalign.applications.pricing_run import build_players
from econalign.applications.report import alpha_key, report_applications, summarize_av, summarize_pricing
from econalign.config import validate_config
from econalign.io import write_parquet
from econalign.stats import difference_interval, wilson_bounds
from econalign.theory.preferences import HomoEconomicus, HomoMoralis

from .fakes import HashAgent, KantianAgent, LetterBiasAgent, PriceLevelAgent

FILES = [
    "av.md",
    "av.tex",
    "av_cells.parquet",
    "av_swerve.png",
    "av_swerve.pdf",
    "pricing.md",
    "pricing.tex",
    "pricing_metrics.parquet",
    "pricing_firms.parquet",
    "pricing_paths.png",
    "pricing_paths.pdf",
    "pricing_gain.png",
    "pricing_gain.pdf",
    "summary.json",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    config = validate_config(
        {
            "av": {"framings": ["moral", "owner"], "paraphrases": 1},
            "pricing": {
                "alphas": [1.0, 3.2],
                "periods": 6,
                "metric_window": 3,
                "reference_opponents": ["nash", "tit_for_tat"],
                "temperature": 0.0,
                "episodes": 2,
            },
        }
    )
    av_agents = {
        "base": (LetterBiasAgent(0.9), None),
        "economicus": (KantianAgent(kappa=0.0), HomoEconomicus()),
        "moralis": (KantianAgent(kappa=0.5), HomoMoralis(kappa=0.5)),
    }
    for name, (agent, preference) in av_agents.items():
        scores = score_av(
            agent,
            av_scenarios(config["av"]),
            agent=name,
            preference=preference,
            reference_kappa=0.5,
            min_margin=config["data"]["tie_margin"],
            batch_size=64,
        )
        write_parquet(root / "av" / f"{name}.parquet", scores)
    llm = {"base": HashAgent(), "economicus": PriceLevelAgent(slope=-10.0), "moralis": PriceLevelAgent(slope=10.0)}
    pairings = pricing_pairings(list(av_agents), config["pricing"])
    players = {**llm, **build_players(config["pricing"]["reference_opponents"], config, model=None, adapters=None)}
    logs = simulate_many([PricingSetup.from_config(config, pairing) for pairing in pairings], players)
    for pairing, log in logs.items():
        write_parquet(root / "pricing" / f"{pairing}.parquet", log)
    return config, root


@pytest.fixture(scope="module")
def reports(study):
    config, root = study
    first, second = root / "report1", root / "report2"
    summary = report_applications(config, av_dir=root / "av", pricing_dir=root / "pricing", out=first)
    report_applications(config, av_dir=root / "av", pricing_dir=root / "pricing", out=second)
    return config, first, second, summary


def test_report_writes_every_file_deterministically(reports):
    config, first, second, _ = reports
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert "tabular" in (first / "pricing.tex").read_text()
    assert "humans" in (first / "av.md").read_text()
    metrics = pl.read_parquet(first / "pricing_metrics.parquet")
    assert metrics.height == len(pricing_pairings(["base", "economicus", "moralis"], config["pricing"])) * 2


def test_av_letter_table_shows_a_one_letter_agent_swerving_in_half_the_scenarios(reports):
    _, first, _, summary = reports
    lines = (first / "av.md").read_text().splitlines()
    header = next(line for line in lines if "swerve is A" in line)
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "agent", "swerve share, swerve is A", "swerve share, swerve is B", "picks A"
    ]  # fmt: skip
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
            for line in lines[lines.index(header) + 2 :] if line.startswith("|"))}  # fmt: skip
    # The base fake names A (p = 0.9): it swerves whenever swerving is A and never when it is B.
    assert rows["base"][1].startswith("100% [") and rows["base"][2].startswith("0% [") and rows["base"][3] == "100%"
    assert rows["economicus"][1].startswith("0% [") and rows["economicus"][2].startswith("0% [")
    for agent, cells in rows.items():
        assert cells[3] == f"{100 * summary['av']['agents'][agent]['share_choosing_A']:.0f}%"
    assert "\\begin{tabular}" in (first / "av.tex").read_text().split("tab:av-letters")[1]


def test_summary_states_what_the_data_show(reports):
    _, first, _, summary = reports
    assert json.loads((first / "summary.json").read_text()) == json.loads(json.dumps(summary))
    av = summary["av"]
    assert av["human_benchmark"]["share"] == 0.76
    # The fake moralis agent swerves with n/k, the economicus fake never does, the base fake always picks A.
    assert av["findings"]["moralis_swerves_more_as_ratio_grows"] == {"moralis": True}
    assert av["findings"]["moralis_swerves_more_than_economicus"] is True
    gap = av["findings"]["moralis_minus_economicus_p_swerve"]
    moralis_p, economicus_p = av["agents"]["moralis"]["mean_p_swerve"], av["agents"]["economicus"]["mean_p_swerve"]
    assert gap["gap"] == pytest.approx(moralis_p - economicus_p)  # same scenarios on both sides
    assert gap["n"] == av["agents"]["moralis"]["items"] and gap["gap"] > 1.96 * gap["se"] > 0
    assert av["agents"]["moralis"]["agreement"]["own"] == 1.0
    assert av["agents"]["economicus"]["swerve_share"] == 0.0
    assert av["agents"]["base"]["share_choosing_A"] == 1.0
    assert av["agents"]["base"]["swerve_share"] == pytest.approx(0.5)
    pricing = summary["pricing"]
    # The moralis fake prices at the top of the grid and the economicus fake at the bottom.
    # At temperature 0 the fakes replay the same episode: a gap with no spread across episodes.
    assert pricing["findings"]["moralis_above_economicus"] == {"1": True, "3.2": True, "all": True}
    gap = pricing["findings"]["moralis_minus_economicus_price"]["1"]
    moralis_price = pricing["findings"]["self_play"]["moralis"]["1"]["mean_price"]
    economicus_price = pricing["findings"]["self_play"]["economicus"]["1"]["mean_price"]
    assert gap["gap"] == pytest.approx(moralis_price - economicus_price) and gap["gap"] > 0
    assert (gap["n_a"], gap["n_b"], gap["se"]) == (2, 2, 0.0)
    assert pricing["findings"]["self_play"]["moralis"]["1"]["mean_price_se"] == 0.0
    top = pricing["benchmarks"]["1"]["grid"][-1]
    assert pricing["pairings"]["moralis__moralis"]["1"]["mean_price"] == pytest.approx(top)
    assert pricing["findings"]["self_play"]["economicus"]["3.2"]["price_index"] < 0
    assert set(pricing["findings"]["base_self_play"]) == {alpha_key(1.0), alpha_key(3.2)}
    assert pricing["benchmarks"]["1"]["moralis_price"]["0.5"] == pytest.approx(1.7106, abs=1e-4)


def test_a_gap_within_noise_is_not_a_finding(study):
    config, root = study
    scores = pl.concat([pl.read_parquet(root / "av" / f"{agent}.parquet") for agent in ("economicus", "moralis")])
    economicus = scores.filter(pl.col("agent") == "economicus").sort("id").with_columns(pl.lit(0.5).alias("p_swerve"))
    # moralis = economicus +- 0.2 per decision problem, 0.01 higher on average: a higher mean, but not a finding.
    # Sorted by id, a problem's two letter orders are neighbours; they are one problem, so they move together.
    jitter = pl.Series([0.21 if (i // 2) % 2 == 0 else -0.19 for i in range(economicus.height)])
    noisy = economicus.with_columns(
        pl.lit("moralis").alias("agent"),
        pl.lit("moralis").alias("preference"),
        pl.lit(0.5).alias("kappa"),
        (pl.col("p_swerve") + jitter).alias("p_swerve"),
    )
    both = pl.concat([economicus, noisy])
    findings = summarize_av(both, agents=["economicus", "moralis"], config=config)["findings"]
    gap = findings["moralis_minus_economicus_p_swerve"]
    assert gap["gap"] == pytest.approx(0.01, abs=0.01) and gap["gap"] > 0
    problems = economicus.height // 2
    assert gap["problems"] == problems == 2 * 15  # two framings of 15 (n, k) cells
    # Clustered (CR1): sqrt(G/(G-1) * sum over problems of (2 * 0.2)^2) / n, with n = 2G scenarios.
    assert gap["se"] == pytest.approx(0.2 / (problems - 1) ** 0.5, rel=1e-9)
    assert findings["moralis_swerves_more_than_economicus"] is False
    # The same gap is a finding at a coverage whose critical value lies below gap / se (evaluate.confidence).
    loose = copy.deepcopy(config)
    loose["evaluate"]["confidence"] = float(2 * scipy.stats.norm.cdf(0.9 * gap["gap"] / gap["se"]) - 1)
    summary = summarize_av(both, agents=["economicus", "moralis"], config=loose)
    assert summary["findings"]["moralis_swerves_more_than_economicus"] is True
    record = summary["agents"]["moralis"]
    assert record["swerve_share"] == 0.0  # choices are economicus', who always stays
    # A share of 0 clusters to one answer per problem: the Wilson interval on G trials.
    low, high = wilson_bounds(0, problems, confidence=loose["evaluate"]["confidence"])
    assert (record["ci_low"], record["ci_high"]) == pytest.approx((low, high))
    assert (low, high) != wilson_bounds(0, problems)


def _self_play(prices: dict[str, list[float]], alpha: float = 1.0) -> pl.DataFrame:
    # Firm rows of self-play episodes: both firms of an episode at the given mean price.
    rows = [(agent, e, f, p) for agent, ps in prices.items() for e, p in enumerate(ps) for f in (0, 1)]
    return pl.DataFrame(
        {
            "pairing": [f"{r[0]}__{r[0]}" for r in rows],
            "alpha": [alpha] * len(rows),
            "episode": [r[1] for r in rows],
            "firm": [r[2] for r in rows],
            "mean_price": [r[3] for r in rows],
            "price_index": [0.0] * len(rows),
            "profit_gain": [0.0] * len(rows),
            "top_price_share": [1.0] * len(rows),
        }
    )


def _pricing_findings(firms: pl.DataFrame, config: dict) -> dict:
    episodes = firms.filter(pl.col("firm") == 0).select(
        "pairing", "alpha", "episode", pl.lit(False).alias("converged"), pl.lit(0).alias("price_wars")
    )
    bench = {"nash_price": 1.47, "monopoly_price": 1.93, "moralis_price": {0.5: 1.71}, "grid": []}
    benchmarks = dict.fromkeys(firms["alpha"].unique().sort().to_list(), bench)
    table = pairing_table(firms, episodes)
    return summarize_pricing(table, benchmarks, firms=firms, agents=["economicus", "moralis"], config=config)[
        "findings"
    ]


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        # Replicated and apart: a finding.
        ({"moralis": [1.70, 1.72, 1.69], "economicus": [1.55, 1.52, 1.56]}, True),
        # A higher mean within the episodes' noise: not a finding.
        ({"moralis": [1.80, 1.45, 1.62], "economicus": [1.60, 1.58, 1.50]}, False),
        # One episode a side: no spread to measure, so nothing is claimed either way.
        ({"moralis": [1.80], "economicus": [1.50]}, None),
    ],
)
def test_pricing_finding_needs_the_gap_to_clear_the_episode_noise(study, prices, expected):
    config, _ = study
    findings = _pricing_findings(_self_play(prices), config)
    gap = findings["moralis_minus_economicus_price"]["1"]
    assert gap["gap"] == pytest.approx(np.mean(prices["moralis"]) - np.mean(prices["economicus"]))
    assert gap["gap"] > 0
    assert findings["moralis_above_economicus"] == {"1": expected, "all": expected}


def test_pricing_finding_tests_at_the_configured_coverage(study):
    config, _ = study
    firms = _self_play({"moralis": [1.80, 1.45, 1.62], "economicus": [1.60, 1.58, 1.50]})  # not a finding at 95%
    loose = copy.deepcopy(config)
    loose["evaluate"]["confidence"] = 0.2
    gap = _pricing_findings(firms, loose)["moralis_minus_economicus_price"]["1"]
    assert gap == difference_interval([1.80, 1.45, 1.62], [1.60, 1.58, 1.50], confidence=0.2)
    assert _pricing_findings(firms, loose)["moralis_above_economicus"]["1"] is (gap["low"] > 0) is True


def test_a_scale_missed_decides_the_pricing_finding_even_where_another_is_unmeasured(study):
    config, _ = study
    missed = _self_play({"moralis": [1.50, 1.52, 1.51], "economicus": [1.60, 1.61, 1.62]}, alpha=1.0)
    unmeasured = _self_play({"moralis": [1.80], "economicus": [1.50]}, alpha=3.2)
    findings = _pricing_findings(pl.concat([missed, unmeasured]), config)
    assert findings["moralis_above_economicus"] == {"1": False, "3.2": None, "all": False}


def test_av_letter_table_with_one_letter_order_says_the_two_are_confounded(study):
    from econalign.applications import tables
    from econalign.applications.av import first_label_share, swerve_by_cell

    _, root = study
    agents = ["base", "economicus", "moralis"]
    scores = pl.concat([pl.read_parquet(root / "av" / f"{a}.parquet") for a in agents])
    one_order = scores.filter(pl.col("swerve_label") == "B")  # as with av.swap_labels: false
    shares = {a: first_label_share(one_order.filter(pl.col("agent") == a)) for a in agents}
    assert shares["base"] == 1.0  # the base fake names A: under this order A is "stay"
    markdown, _ = tables.av_tables(
        swerve_by_cell(one_order),
        swerve_by_cell(one_order, by=("agent",)),
        swerve_by_cell(one_order, by=("agent", "swerve_label")),
        shares,
        agents=agents,
    )
    assert "| agent | swerve share, swerve is B | picks A |" in markdown
    assert "| base | 0% [" in markdown and "confounded" in markdown
