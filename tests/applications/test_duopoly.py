import json
import re
import sys
import types

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from econalign.applications.duopoly import PricingSetup, choose_index, simulate, simulate_many
from econalign.applications.pricing_agents import market_grid, nearest_index
from econalign.applications.pricing_run import build_players, partial_path, run_pairing
from econalign.config import ConfigError, validate_config
from econalign.theory.market import LogitDuopoly

from .fakes import HashAgent, PriceLevelAgent


def small_config(**pricing):
    defaults = {"alphas": [1.0, 10.0], "periods": 8, "episodes": 2, "history": 3}
    return validate_config({"seed": 5, "pricing": {**defaults, **pricing}})


def run_references(pairing, **pricing):
    config = small_config(**pricing)
    setup = PricingSetup.from_config(config, pairing)
    return simulate(setup, build_players(setup.firms, config, model=None, adapters=None))


def test_two_nash_pricers_stay_at_the_nash_price():
    log = run_references("nash__nash")
    assert log.height == 2 * 2 * 8 * 2
    for alpha, part in log.group_by("alpha"):
        market = LogitDuopoly(alpha=alpha[0])
        nash = market_grid(market, 15)[nearest_index(market_grid(market, 15), market.nash_price())]
        assert (part["price"] == nash).all()
        np.testing.assert_allclose(part["profit"], market.profit(nash, nash))
        np.testing.assert_allclose(part["quantity"], market.demand(nash, nash))
        assert abs(nash - market.nash_price()) <= 0.5 * np.diff(market_grid(market, 15)).max()


@pytest.mark.parametrize("kappa", [0.25, 0.5, 0.75])
def test_two_exact_moralis_pricers_converge_to_the_moralis_grid_price(kappa):
    log = run_references("exact_moralis__exact_moralis", initial_prices="random", reference_kappa=kappa, episodes=4)
    assert (log.filter(pl.col("period") == 0)["kind"] == "opening").all()
    openings = log.filter(pl.col("period") == 0)["price_index"].to_list()
    assert len(set(openings)) > 2
    final = log.filter(pl.col("period") >= 5)
    for alpha, part in final.group_by("alpha"):
        market = LogitDuopoly(alpha=alpha[0])
        grid = market_grid(market, 15)
        assert (part["price_index"] == nearest_index(grid, market.moralis_price(kappa))).all()


def test_tit_for_tat_copies_the_rival():
    log = run_references("tit_for_tat__nash").sort(["alpha", "episode", "period", "firm"])
    for (_, _), part in log.group_by(["alpha", "episode"]):
        part = part.sort(["period", "firm"])
        mine = part.filter(pl.col("firm") == 0)["price_index"].to_list()
        theirs = part.filter(pl.col("firm") == 1)["price_index"].to_list()
        assert mine[1:] == theirs[:-1]


def test_llm_decisions_of_a_period_are_scored_in_one_call_and_read_the_grid_letters():
    for order in ["ascending", "descending", "shuffled"]:
        config = small_config(temperature=0.0, label_order=order)
        agent = PriceLevelAgent(slope=10.0)
        setup = PricingSetup.from_config(config, "base__base")
        log = simulate(setup, {"base": agent})
        assert agent.calls == [2 * 2 * 2] * 8  # alphas x episodes x firms, once per period
        assert (log["price_index"] == 14).all(), order
        assert (log["kind"] == "llm").all()
        prompt = json.loads(log["prompt"][-1])
        text = prompt[-1]["content"]
        assert "Period 8: which price" in text
        assert re.findall(r"^(\d+): ", text, re.MULTILINE) == ["5", "6", "7"]  # the last H = 3 periods
        letters = log["labels"][0]
        assert sorted(letters) == list("ABCDEFGHIJKLMNO")


def test_sampling_follows_the_choice_probabilities():
    logprobs = np.log([0.1, 0.6, 0.3])
    draws = [choose_index(logprobs, temperature=1.0, rng=np.random.default_rng(s))[0] for s in range(3000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 3000, [0.1, 0.6, 0.3], atol=0.03)
    index, probability = choose_index(logprobs, temperature=0.5, rng=np.random.default_rng(0))
    sharpened = np.array([0.1, 0.6, 0.3]) ** 2
    assert probability == pytest.approx(sharpened[index] / sharpened.sum())


def test_llm_against_reference_is_deterministic_and_seeded():
    config = small_config(initial_prices="random")
    setup = PricingSetup.from_config(config, "base__exact_moralis")
    reference = build_players(["exact_moralis"], config, model=None, adapters=None)
    first = simulate(setup, {"base": HashAgent(), **reference})
    again = simulate(setup, {"base": HashAgent(), **reference})
    assert_frame_equal(first, again)
    other_seed = PricingSetup.from_config({**config, "seed": 6}, "base__exact_moralis")
    assert not first["price_index"].equals(simulate(other_seed, {"base": HashAgent(), **reference})["price_index"])
    llm = first.filter(pl.col("kind") == "llm")
    assert llm.height == 2 * 2 * 8 and (llm["firm"] == 0).all()
    assert llm["draw_seed"].n_unique() == llm.height


@pytest.mark.parametrize("initial_prices", ["none", "random"])
def test_a_resumed_run_equals_an_uninterrupted_one(initial_prices):
    config = small_config(initial_prices=initial_prices)
    setup = PricingSetup.from_config(config, "base__base")
    full = simulate(setup, {"base": HashAgent()})
    partial = simulate(setup, {"base": HashAgent()}, until_period=3)
    assert partial["period"].max() == 3
    resumed = simulate(setup, {"base": HashAgent()}, resume=partial)
    assert_frame_equal(resumed, full)
    longer = PricingSetup.from_config(small_config(initial_prices=initial_prices, periods=10), "base__base")
    longer_run = simulate(longer, {"base": HashAgent()}, resume=full)
    assert_frame_equal(longer_run.filter(pl.col("period") <= 8), full)
    # A partial log of a longer run gives a shorter one only its own periods.
    assert_frame_equal(simulate(setup, {"base": HashAgent()}, resume=longer_run), full)


def test_resume_rejects_a_log_of_other_settings():
    partial = simulate(PricingSetup.from_config(small_config(), "base__base"), {"base": HashAgent()}, until_period=2)
    other = PricingSetup.from_config(small_config(temperature=0.5), "base__base")
    with pytest.raises(ValueError, match="other settings"):
        simulate(other, {"base": HashAgent()}, resume=partial)
    with pytest.raises(ValueError, match="same periods"):
        simulate(
            PricingSetup.from_config(small_config(), "base__base"),
            {"base": HashAgent()},
            resume=partial.filter(pl.col("episode") == 0),
        )


def test_run_pairing_continues_a_partial_log_and_removes_it(tmp_path):
    config = small_config(checkpoint_every=2)
    out = tmp_path / "pricing" / "nash__exact_moralis.parquet"
    checkpoints = []
    setup = PricingSetup.from_config(config, "nash__exact_moralis")
    players = build_players(setup.firms, config, model=None, adapters=None)
    full = simulate(setup, players, checkpoint=checkpoints.append, checkpoint_every=2)
    assert [frame["period"].max() for frame in checkpoints] == [2, 4, 6]
    out.parent.mkdir()
    checkpoints[1].write_parquet(partial_path(out))
    log = run_pairing(config, "nash__exact_moralis", out=out)
    assert_frame_equal(log, full)
    assert_frame_equal(pl.read_parquet(out), full)
    assert not partial_path(out).exists()


def test_the_run_key_covers_what_plays_under_each_name():
    def key(pairing, identities=None, **pricing):
        return PricingSetup.from_config(small_config(**pricing), pairing, identities=identities).run_key()

    assert key("nash__exact_moralis", reference_kappa=0.25) != key("nash__exact_moralis", reference_kappa=0.5)
    assert key("nash__tit_for_tat", reference_kappa=0.25) == key("nash__tit_for_tat", reference_kappa=0.5)
    assert key("base__nash", {"base": "model=a adapter=none"}) != key("base__nash", {"base": "model=b adapter=none"})
    assert key("base__nash", {"base": "x", "moralis": "y"}) == key("base__nash", {"base": "x", "moralis": "z"})


def test_run_pairing_ignores_a_partial_log_of_other_players(tmp_path):
    out = tmp_path / "nash__exact_moralis.parquet"
    old, new = small_config(reference_kappa=1.0), small_config(reference_kappa=0.0)
    old_setup = PricingSetup.from_config(old, "nash__exact_moralis")
    partial = simulate(old_setup, build_players(old_setup.firms, old, model=None, adapters=None), until_period=4)
    partial.write_parquet(partial_path(out))
    new_setup = PricingSetup.from_config(new, "nash__exact_moralis")
    fresh = simulate(new_setup, build_players(new_setup.firms, new, model=None, adapters=None))
    log = run_pairing(new, "nash__exact_moralis", out=out)
    assert_frame_equal(log, fresh)
    # The two kappas price differently, so resuming the old prefix would have shown in the log.
    assert not partial.filter(pl.col("firm") == 1)["price"].equals(
        log.filter(pl.col("period") <= 4, pl.col("firm") == 1)["price"]
    )


def test_cli_runs_a_reference_pairing(tmp_path, capsys):
    from econalign.cli import main

    out = tmp_path / "nash__tit_for_tat.parquet"
    config = json.dumps({"pricing": {"alphas": [3.2], "periods": 4, "episodes": 1}})
    assert main(["pricing", "--config-json", config, "--pairing", "nash__tit_for_tat", "--out", str(out)]) == 0
    log = pl.read_parquet(out)
    assert log.height == 8 and set(log["agent"]) == {"nash", "tit_for_tat"}
    provenance = json.loads(out.with_name("nash__tit_for_tat.provenance.json").read_text())
    assert provenance["pairing"] == "nash__tit_for_tat" and provenance["rows"] == 8
    # The report's metric settings play no part in a log, so its provenance does not claim them.
    assert provenance["config"]["pricing"]["periods"] == 4
    assert not {"metric_window", "price_war_length"} & set(provenance["config"]["pricing"])
    first = out.read_bytes()
    assert main(["pricing", "--config-json", config, "--pairing", "nash__tit_for_tat", "--out", str(out)]) == 0
    assert out.read_bytes() == first
    capsys.readouterr()
    assert main(["pricing", "--config-json", config, "--pairing", "base__nash", "--out", str(out)]) == 2
    assert "econalign pricing: firm 'base' is a language model agent; pass --model" in capsys.readouterr().err


def test_build_players_loads_each_llm_firm_once_with_its_adapter(tmp_path, monkeypatch):
    loads = []

    def load_agent(model_dir, adapter=None, **options):
        loads.append((model_dir, adapter))
        return HashAgent()

    fake = types.ModuleType("econalign.model.agent")
    fake.load_agent = load_agent
    monkeypatch.setitem(sys.modules, "econalign.model.agent", fake)
    config = small_config(periods=2)
    players = build_players(PricingSetup.from_config(config, "base__base").firms, config, model=tmp_path, adapters=None)
    assert list(players) == ["base"] and loads == [(tmp_path, None)]
    loads.clear()
    setup = PricingSetup.from_config(config, "economicus__moralis")
    build_players(setup.firms, config, model=tmp_path, adapters=tmp_path / "finetune")
    assert loads == [(tmp_path, tmp_path / "finetune" / name / "adapter") for name in ("economicus", "moralis")]
    with pytest.raises(ConfigError, match="neither"):
        build_players(PricingSetup.from_config(config, "base__stranger").firms, config, model=tmp_path, adapters=None)
    out = tmp_path / "economicus__nash.parquet"
    (tmp_path / "economicus" / "adapter").mkdir(parents=True)
    from econalign.cli import main

    arguments = [
        "--pairing",
        "economicus__nash",
        "--model",
        str(tmp_path),
        "--adapters",
        str(tmp_path),
        "--out",
        str(out),
    ]
    assert (
        main(
            [
                "pricing",
                "--config-json",
                json.dumps({"pricing": {"alphas": [1.0], "periods": 3, "episodes": 1}}),
                *arguments,
            ]
        )
        == 0
    )
    log = pl.read_parquet(out)
    assert log.filter(pl.col("firm") == 0)["kind"].to_list() == ["llm"] * 3


def test_pairings_in_lockstep_equal_separate_runs_and_share_one_call_per_agent():
    config = small_config(initial_prices="random")
    pairings = ["base__base", "base__nash", "nash__base", "nash__nash"]
    setups = [PricingSetup.from_config(config, pairing) for pairing in pairings]
    agent = HashAgent()
    players = {"base": agent, **build_players(["nash"], config, model=None, adapters=None)}
    together = simulate_many(setups, players)
    # One call per period (period 0 is the random opening); 2 alphas x 2 episodes x (2 + 1 + 1) LLM firms.
    assert agent.calls == [2 * 2 * 4] * 8
    for setup in setups:
        assert_frame_equal(together[setup.pairing], simulate(setup, players))
    partial = {
        "base__nash": simulate(setups[1], players, until_period=5),
        "nash__base": simulate(setups[2], players, until_period=2),
    }
    assert_frame_equal(simulate_many(setups, players, resumes=partial)["nash__base"], together["nash__base"])
    with pytest.raises(ValueError, match="distinct"):
        simulate_many([setups[0], setups[0]], players)


def test_cli_runs_several_pairings_into_a_folder(tmp_path, capsys):
    from econalign.cli import main

    config = json.dumps({"pricing": {"alphas": [1.0], "periods": 3, "episodes": 1}})
    pairings = ["nash__nash", "monopoly__tit_for_tat"]
    assert (
        main(["pricing", "--config-json", config, *[f"--pairing={p}" for p in pairings], "--out-dir", str(tmp_path)])
        == 0
    )
    for pairing in pairings:
        assert pl.read_parquet(tmp_path / f"{pairing}.parquet")["pairing"].unique().to_list() == [pairing]
    capsys.readouterr()
    several = [f"--pairing={p}" for p in pairings]
    assert main(["pricing", "--config-json", config, *several, "--out", str(tmp_path / "x.parquet")]) == 2
    assert "econalign pricing: --out takes one pairing; use --out-dir for several" in capsys.readouterr().err


def test_provenance_names_each_llm_firms_adapter_and_its_hash(tmp_path, monkeypatch):
    from econalign.cli import main
    from econalign.io import adapter_hash

    fake = types.ModuleType("econalign.model.agent")
    fake.load_agent = lambda model_dir, adapter=None, **options: HashAgent()
    monkeypatch.setitem(sys.modules, "econalign.model.agent", fake)
    finetune = tmp_path / "finetune"
    for name in ("economicus", "moralis"):
        (finetune / name / "adapter").mkdir(parents=True)
        (finetune / name / "adapter" / "adapter_model.safetensors").write_bytes(f"{name} weights".encode())
        (finetune / name / "adapter" / ".snakemake_timestamp").touch()
    config = json.dumps({"pricing": {"alphas": [1.0], "periods": 2, "episodes": 1}})
    pairings = ["economicus__moralis", "base__nash", "nash__tit_for_tat"]
    out = tmp_path / "pricing"
    argv = ["pricing", "--config-json", config, *[f"--pairing={p}" for p in pairings], "--out-dir", str(out)]
    assert main([*argv, "--model", str(tmp_path), "--adapters", str(finetune)]) == 0
    records = {p: json.loads((out / f"{p}.provenance.json").read_text()) for p in pairings}
    hashes = {name: adapter_hash(finetune / name / "adapter") for name in ("economicus", "moralis")}
    assert hashes["economicus"] != hashes["moralis"]
    assert records["economicus__moralis"]["firm_adapter"] == {
        name: (finetune / name / "adapter").as_posix() for name in ("economicus", "moralis")
    }
    assert records["economicus__moralis"]["firm_adapter_hash"] == hashes
    assert records["base__nash"]["firm_adapter"] == {"base": None}
    assert records["base__nash"]["firm_adapter_hash"] == {"base": "none"}
    assert records["nash__tit_for_tat"]["firm_adapter"] == records["nash__tit_for_tat"]["firm_adapter_hash"] == {}
    first = {p: (out / f"{p}.provenance.json").read_bytes() for p in pairings}
    assert main([*argv, "--model", str(tmp_path), "--adapters", str(finetune)]) == 0
    assert {p: (out / f"{p}.provenance.json").read_bytes() for p in pairings} == first  # byte-identical re-run
