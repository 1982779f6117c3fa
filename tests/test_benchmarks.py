"""The benchmark scripts' shared bookkeeping: the machine record and the lever study's file."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


machine = load("machine")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="VmHWM needs Linux's /proc")
def test_peak_rss_is_the_high_water_mark_of_the_process_itself():
    # A fresh interpreter: this test process may already have peaked far higher (JAX, the model).
    script = (
        "from machine import peak_rss_mb\n"
        "before = peak_rss_mb()\n"
        "block = bytearray(64 * 1024 * 1024)\n"
        "block[::4096] = b'\\1' * (len(block) // 4096)\n"
        "del block\n"
        "print(before, peak_rss_mb())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=BENCHMARKS, capture_output=True, text=True, check=True)
    before, after = map(float, out.stdout.split())
    assert 1 < before < 200  # a bare interpreter, not its parent's peak
    assert after >= before + 60  # the 64 MiB block counted once it was touched


def test_machine_record_names_the_cpu_and_the_utc_date():
    record = machine.machine()
    assert set(record) == {"cpu", "cores", "python", "date"}
    assert record["cores"] >= 1 and record["cpu"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"])
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    if names:  # x86 Linux; ARM kernels may not name the model
        assert record["cpu"].startswith(names[0])


def row(setting: str, agreement: float) -> dict:
    return {"setting": setting, "agent": "economicus", "agreement_direct": agreement}


def test_lever_rows_merge_into_the_study_file(tmp_path):
    grid = load("lever_grid")
    path = tmp_path / "levers.json"
    # Files written before the study format held a bare list of rows.
    path.write_text(json.dumps([row("a", 0.5), row("b", 0.4)]))
    grid.merge_rows(path, row("c", 0.6), note="first note")
    grid.merge_rows(path, row("a", 0.7), note="first note")
    study = grid.merge_rows(path, {**row("b", 0.9), "agent": "moralis"}, note="second")
    assert json.loads(path.read_text()) == study
    assert [(r["setting"], r["agent"], r["agreement_direct"]) for r in study["rows"]] == [
        ("a", "economicus", 0.7),  # replaced in place
        ("b", "economicus", 0.4),
        ("c", "economicus", 0.6),
        ("b", "moralis", 0.9),  # another agent: a row of its own
    ]
    assert study["notes"] == "first note second"
    assert study["what"].startswith("benchmarks/lever_grid.py: Run a grid of fine-tuning settings")
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temporary file left


def test_label_binding_separates_swapped_training_letters_from_unseen_ones():
    import polars as pl

    recipe_tests = load("recipe_tests")
    rows = [  # split, labels as listed, actions as listed, the theory's action, the agent's letter
        ("test_labels", ["B", "A"], ["C", "D"], "C", "A"),  # swapped; answers by the place's training letter
        ("test_labels", ["Y", "X"], ["D", "C"], "C", "X"),  # swapped; right
        ("test_labels", ["E", "F"], ["C", "D"], "C", "E"),  # unseen letters; right
        ("test_labels", ["P", "Q"], ["C", "D"], None, "P"),  # no prediction: left out
        ("test_payoffs", ["B", "A"], ["C", "D"], "C", "A"),  # another split: left out
    ]
    items = pl.DataFrame(
        [dict(zip(["split", "labels", "actions", "pred_moralis", "choice_label"], row, strict=True)) for row in rows]
    )
    result = recipe_tests.label_binding(items, "moralis", ["ABCD", "XYZW"])
    swapped, unseen = result["swapped_training_letters"], result["unseen_letters"]
    assert swapped["agreement"]["n"] == 2 and swapped["agreement"]["rate"] == 0.5
    assert swapped["names_the_letter_of_the_place"]["rate"] == 0.5  # A held the first place in training
    assert unseen["agreement"]["n"] == 1 and unseen["agreement"]["rate"] == 1.0


def _fake_run(root: Path, seed: int, agent_agrees: list[int], rule_agrees: list[int]) -> tuple[Path, Path]:
    """An evaluation folder and a references folder with one test_payoffs item per entry (ids and problems repeat
    across runs, as they do across seeds)."""
    import polars as pl

    evaluations, references = root / f"s{seed}" / "evaluate", root / f"s{seed}" / "references"
    (evaluations / "moralis").mkdir(parents=True)
    references.mkdir(parents=True)
    config = {"seed": seed, "evaluate": {"confidence": 0.95}}
    (evaluations / "moralis" / "metrics.json").write_text(
        json.dumps({"own_theory": "moralis", "provenance": {"config": config}})
    )
    (references / "metrics.json").write_text(json.dumps({"references": {"exact_moralis": {}, "rule": {}}}))

    def rows(agent: str, agrees: list[int]) -> pl.DataFrame:
        ids = [f"test_payoffs-{i:04d}" for i in range(len(agrees))]
        pivotal = [i % 2 == 0 for i in range(len(agrees))]
        return pl.DataFrame(
            {"agent": agent, "split": "test_payoffs", "id": ids, "game_key": ids, "agree_moralis": agrees,
             "belief_pivotal_moralis": pivotal}
        )  # fmt: skip

    rows("moralis", agent_agrees).write_parquet(evaluations / "moralis" / "items.parquet")
    pl.concat([rows("rule", rule_agrees), rows("exact_moralis", [1] * len(rule_agrees))]).write_parquet(
        references / "items.parquet"
    )
    return evaluations, references


def test_pooled_runs_keep_each_seeds_items_apart(tmp_path):
    recipe_tests = load("recipe_tests")
    first = _fake_run(tmp_path, 0, [1, 1, 1, 0], [0, 1, 0, 0])  # gains 1, 0, 1, 0
    second = _fake_run(tmp_path, 1, [1, 0, 1, 1, 1, 0], [1, 0, 1, 1, 0, 0])  # gains 0, 0, 0, 0, 1, 0
    result = recipe_tests.pooled([first, second], "moralis")
    split = result["splits"]["test_payoffs"]
    assert result["seeds"] == [0, 1]
    assert split["n"] == 10 and split["agreement"]["rate"] == 0.7  # the same ids in both runs are ten items
    gain = split["versus_rules"]["rules"]["rule"]
    assert gain["n"] == 10 and gain["clusters"] == 10
    assert gain["estimate"] == pytest.approx(3 / 10)  # the item-weighted mean, not the mean of the runs' 0.5 and 1/6
    assert list(split["versus_rules"]["rules"]) == ["rule"]  # the exact theory is a yardstick, not a rule
    # Even positions pose the belief-pivotal items: agreements 1, 1 | 1, 1, 1 there; 1, 0 | 0, 1, 0 elsewhere.
    assert split["belief_use"]["pivotal"]["n"] == 5 and split["belief_use"]["pivotal"]["estimate"] == 1.0
    assert split["belief_use"]["other"]["n"] == 5 and split["belief_use"]["other"]["estimate"] == 0.4
    assert result["splits"]["test_labels"]["n"] == 0


def test_pooling_a_seed_twice_is_refused(tmp_path):
    recipe_tests = load("recipe_tests")
    run = _fake_run(tmp_path, 0, [1, 0], [0, 0])
    with pytest.raises(ValueError, match="repeat a seed"):
        recipe_tests.pooled([run, run], "moralis")
