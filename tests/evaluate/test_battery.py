"""``econalign evaluate`` end to end on a tiny fixture dataset: reference rules, and an agent behind a fake model."""

import json
import sys
import types

import polars as pl
import pytest

from econalign.cli import main
from econalign.evaluate.battery import SMALL_BATCHES
from econalign.io import derive_seed

from .fakes import CountingAgent

CONFIG = {"evaluate": {"max_items_per_split": 10, "consistency_items": 4}}


def test_references_cli_writes_byte_identical_outputs(dataset_dir, tmp_path):
    args = ["evaluate", "--config-json", json.dumps(CONFIG), "--references", "--data", str(dataset_dir)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for name in ["items.parquet", "metrics.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    items = pl.read_parquet(tmp_path / "a" / "items.parquet")
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert set(items["agent"].unique()) == set(metrics["references"])
    assert {"exact_economicus", "exact_moralis_k50", "random", "first_listed"} <= set(metrics["references"])
    per_agent = items.group_by("agent").len()["len"].unique().to_list()
    assert per_agent == [10 * 4 + 2 * 4]  # four capped test splits and two probe splits
    assert "messages" not in items.columns
    assert metrics["data_check"]["mismatched_items"] == 0
    # The fixture's answers come from the theory's own solver: the battery reproduces every one of them.
    assert metrics["data_check"]["answer_mismatches"] == {"economicus": 0, "moralis": 0}
    assert metrics["data_check"]["agents_compared"] == ["moralis"]


def test_agent_cli_uses_the_cache_and_names_its_own_theory(dataset_dir, tmp_path, monkeypatch):
    fake = CountingAgent()
    loaded = []

    def load_agent(model_dir, adapter=None, *, dtype, buckets):
        loaded.append((model_dir, adapter, dtype, buckets.small_batches))
        return fake

    monkeypatch.setitem(sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=load_agent))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    out = tmp_path / "evaluate" / "moralis"
    args = ["evaluate", "--config-json", json.dumps(CONFIG), "--agent", "moralis", "--model", "model-dir",
            "--adapter", str(adapter), "--data", str(dataset_dir), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    scored = fake.scored
    assert scored == 48 and loaded == [("model-dir", str(adapter), "float32", SMALL_BATCHES)]
    assert main(args) == 0
    assert fake.scored == scored  # second run: everything from results/evaluate/.cache
    assert len(list((tmp_path / "evaluate" / ".cache").glob("*.parquet"))) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["agent"] == "moralis" and metrics["own_theory"] == "moralis_k50"
    assert metrics["agreement"]["all"]["own"] == metrics["agreement"]["all"]["moralis_k50"]
    assert metrics["provenance"]["model_sha256"] == fake.model_sha256
    items = pl.read_parquet(out / "items.parquet")
    assert items["logprobs"].null_count() == 0
    for probs in items["probs"]:
        assert sum(probs) == pytest.approx(1.0)


def test_a_snakemake_timestamp_in_the_adapter_changes_neither_cache_nor_provenance(dataset_dir, tmp_path, monkeypatch):
    from econalign.io import adapter_hash

    fake = CountingAgent()
    monkeypatch.setitem(
        sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=lambda *args, **kwargs: fake)
    )
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    expected = adapter_hash(adapter)

    def run(out):
        args = ["evaluate", "--config-json", json.dumps(CONFIG), "--agent", "moralis", "--model", "model-dir",
                "--adapter", str(adapter), "--data", str(dataset_dir), "--out", str(tmp_path / out)]  # fmt: skip
        assert main(args) == 0
        return json.loads((tmp_path / out / "metrics.json").read_text())["provenance"]["adapter_hash"]

    assert run("sdk") == expected  # a direct run, as the SDK or CLI makes it
    scored = fake.scored
    (adapter / ".snakemake_timestamp").touch()  # what Snakemake adds to a directory output
    assert run("snakemake") == expected
    assert fake.scored == scored  # the same cache entries: nothing scored again


def test_scores_in_another_dtype_are_cached_apart(dataset_dir, tmp_path, monkeypatch):
    fake = CountingAgent()
    dtypes = []

    def load_agent(model_dir, adapter=None, *, dtype, buckets):
        dtypes.append(dtype)
        return fake

    monkeypatch.setitem(sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=load_agent))
    for dtype in ("float32", "bfloat16", "float32"):
        config = {**CONFIG, "model": {"dtype": dtype}}
        args = ["evaluate", "--config-json", json.dumps(config), "--model", "model-dir", "--data", str(dataset_dir),
                "--out", str(tmp_path / "evaluate" / dtype)]  # fmt: skip
        assert main(args) == 0
    assert dtypes == ["float32", "bfloat16", "float32"]
    assert fake.scored == 2 * 48  # the bfloat16 run scored everything again; the second float32 run nothing
    assert len(list((tmp_path / "evaluate" / ".cache").glob("*.parquet"))) == 2
    metrics = json.loads((tmp_path / "evaluate" / "bfloat16" / "metrics.json").read_text())
    assert metrics["provenance"]["model_sha256"] == fake.model_sha256  # the file's hash, not the cache key


def test_evaluate_without_a_model_is_an_error(dataset_dir, tmp_path, capsys):
    assert main(["evaluate", "--data", str(dataset_dir), "--out", str(tmp_path)]) == 2
    message = "econalign evaluate: --model is required unless --references or --hosted is given"
    assert message in capsys.readouterr().err


def test_the_data_check_counts_answers_and_items_that_differ(dataset_dir, tmp_path):
    """One changed answer and one changed prompt in moralis' copy: each count is exactly 1."""
    import shutil

    from econalign.config import load_config
    from econalign.evaluate.battery import build_battery

    data = tmp_path / "synthesize"
    shutil.copytree(dataset_dir, data)
    path = data / "moralis" / "test_payoffs.parquet"
    frame = pl.read_parquet(path)
    answered = frame.filter(pl.col("optimal_action").is_not_null())
    changed_answer, changed_prompt = answered["id"][0], answered["id"][1]
    actions = json.loads(answered["options"][0])
    other = next(o["action"] for o in actions if o["action"] != answered["optimal_action"][0])
    frame = frame.with_columns(
        pl.when(pl.col("id") == changed_answer)
        .then(pl.lit(other))
        .otherwise(pl.col("optimal_action"))
        .alias("optimal_action"),
        pl.when(pl.col("id") == changed_prompt)
        .then(pl.col("messages").str.replace("\\.", "!"))
        .otherwise(pl.col("messages"))
        .alias("messages"),
    )
    frame.write_parquet(path)
    config = load_config(overrides={"evaluate": {"max_items_per_split": 0, "consistency_items": 0}})
    _, _, check = build_battery(config, data, prefer="economicus")
    assert check["mismatched_items"] == 1
    assert check["answer_mismatches"] == {"economicus": 0, "moralis": 1}


def test_reasoning_mode_passes_the_configured_generation_settings(dataset_dir, tmp_path, monkeypatch):
    fake = CountingAgent(replies=lambda prompt: "Let me think.\nAnswer: A")

    def load_agent(model_dir, adapter=None, *, dtype, buckets):
        return fake

    monkeypatch.setitem(sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=load_agent))
    config = {
        "seed": 5,
        "data": {"reasoning_first": True},
        "evaluate": {**CONFIG["evaluate"], "mode": "reasoning", "temperature": 0.7, "max_new_tokens": 24},
    }
    args = ["evaluate", "--config-json", json.dumps(config), "--agent", "base", "--model", "model-dir",
            "--data", str(dataset_dir), "--out", str(tmp_path / "base")]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((tmp_path / "base" / "metrics.json").read_text())
    assert metrics["mode"] == "reasoning" and metrics["seed"] == 5
    items = pl.read_parquet(tmp_path / "base" / "items.parquet")
    # One call; each item sampled with a seed of its own, derived from the configured seed and its id.
    [(max_new_tokens, temperature, seeds)] = fake.generate_settings
    assert fake.generated == items.height and (max_new_tokens, temperature) == (24, 0.7)
    assert sorted(seeds) == sorted(derive_seed(5, "evaluate", "reply", item) for item in items["id"])
    # "Answer: A" parses exactly where A is one of the item's labels; elsewhere it is a parse failure.
    offered = items["labels"].list.contains("A")
    assert offered.any() and (~offered).any()
    assert (items["parse_failed"] == ~offered).all()
    assert (items.filter(offered)["choice_label"] == "A").all()
    pooled = items.filter(~pl.col("split").str.starts_with("probe"))
    expected = float((~pooled["labels"].list.contains("A")).mean())
    assert metrics["parse_failure"]["all"]["estimate"] == pytest.approx(expected)


def test_battery_predictions_are_the_theory_solvers_answers(dataset_dir):
    """pred_<theory> of every item (probes included) against theory.predicted_action on the item's own game."""
    import numpy as np

    from econalign.config import load_config
    from econalign.evaluate.battery import build_battery
    from econalign.evaluate.items import parse_counts
    from econalign.theory import game_from_params, predicted_action

    config = load_config(overrides={"evaluate": {"max_items_per_split": 0, "consistency_items": 6}})
    battery, theories, _ = build_battery(config, dataset_dir)
    margin = config["data"]["tie_margin"]
    answered = 0
    for theory in theories:
        for family, params, counts, predicted in battery.select(
            "family", "params", "belief_counts", f"pred_{theory.name}"
        ).iter_rows():
            parsed = parse_counts(counts)
            belief = None if parsed is None else np.asarray(parsed, float) / sum(parsed)
            game = game_from_params(family, params)
            assert predicted == predicted_action(game, theory.preference, belief, min_margin=margin)
            answered += predicted is not None
    assert answered > battery.height  # both theories answer most items


# -- pred_* of stated-belief 2x2 items against SCIENCE.md's closed form, on a real synthesized battery -------------


def _closed_form_utilities(params: dict, q: float, kappa: float) -> dict[str, float]:
    """u(x) of each pure action x against a rival who cooperates with probability q (SCIENCE.md).

    Economicus: pi(x, q). Homo moralis: (1 - kappa) pi(x, q) + kappa pi(x, x); for a pure x the Kantian term is the
    payoff of x against itself (R for C, P for D), whatever the belief.
    """
    t, r, p, s = (float(params[k]) for k in "TRPS")
    material = {"C": q * r + (1 - q) * s, "D": q * t + (1 - q) * p}
    kantian = {"C": r, "D": p}
    return {a: (1 - kappa) * material[a] + kappa * kantian[a] for a in ("C", "D")}


def _check_stated_belief_predictions(battery, kappas: dict[str, float], margin: float) -> dict[str, int]:
    counts = {"decided": 0, "tied": 0}
    for row in battery.iter_rows(named=True):
        params = json.loads(row["params"])
        if set(params) != set("TRPS") or row["belief_counts"] is None:
            continue
        history = json.loads(row["belief_counts"])  # the rival's past choices, C first
        q = history[0] / sum(history)
        assert row["belief"] == pytest.approx(q)
        spread = max(params.values()) - min(params.values())
        for name, kappa in kappas.items():
            u = _closed_form_utilities(params, q, kappa)
            # Utilities in the item's presentation order (``actions``), and the theory's answer under the tie rule.
            assert row[f"utilities_{name}"] == pytest.approx([u[a] for a in row["actions"]], abs=1e-12)
            gap = abs(u["C"] - u["D"]) / spread
            if abs(gap - margin) < 1e-9:
                continue  # on the margin itself: rounding decides
            if gap > margin:
                assert row[f"pred_{name}"] == max(u, key=u.get), (name, row["params"], history)
                counts["decided"] += 1
                half = _closed_form_utilities(params, 0.5, kappa)  # the rule ignoring the belief: uniform, ties to C
                if abs(half["C"] - half["D"]) > 1e-9:
                    ignoring = max(half, key=half.get)
                    assert row[f"belief_pivotal_{name}"] == (row[f"pred_{name}"] != ignoring)
            else:
                assert row[f"pred_{name}"] is None, (name, row["params"], history)  # a tie is not posed
                counts["tied"] += 1
    return counts


def test_battery_predictions_of_stated_belief_items_follow_the_closed_form(real_config, real_dataset_dir):
    """The real battery's pred_*, utilities_* and belief_pivotal_* for every theory of the config, recomputed from
    the payoffs in ``params`` and the stated counts, not with the theory solver that built them."""
    from econalign.evaluate.battery import build_battery

    battery, theories, check = build_battery(real_config, real_dataset_dir)
    assert [t.name for t in theories] == ["economicus", "moralis_k30", "moralis_k50"]
    assert check["answer_mismatches"] == {"economicus": 0, "moralis": 0, "moralis_k30": 0}
    counts = _check_stated_belief_predictions(
        battery, {t.name: t.kappa for t in theories}, real_config["data"]["tie_margin"]
    )
    assert counts["decided"] > 300  # three theories, over a hundred stated-belief 2x2 items each


def test_theory_columns_leave_ties_unanswered_as_the_closed_form_says(real_config, real_dataset_dir):
    """The same items scored by more kappas than the datasets were drawn for (where the best action is decisive for
    every agent): some of them fall within the tie margin, and add_theory_columns gives those no answer."""
    from econalign.evaluate.battery import build_battery
    from econalign.evaluate.items import add_theory_columns
    from econalign.evaluate.predictions import Theory
    from econalign.theory import HomoMoralis

    battery, _, _ = build_battery(real_config, real_dataset_dir)
    items = battery.select("id", "family", "params", "belief", "belief_counts", "actions")
    kappas = {f"k{round(100 * k)}": k for k in (0.1, 0.2, 0.25, 0.4, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0)}
    margin = real_config["data"]["tie_margin"]
    scored = add_theory_columns(items, [Theory(n, HomoMoralis(kappa=k)) for n, k in kappas.items()], min_margin=margin)
    counts = _check_stated_belief_predictions(scored, kappas, margin)
    assert counts["decided"] > 1000 and counts["tied"] > 0
