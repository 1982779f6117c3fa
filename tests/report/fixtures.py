"""Small fixture results shaped like the workflow's report inputs (no model, no JAX)."""

import json
import struct
import zlib
from pathlib import Path

import polars as pl

from econalign.io import write_parquet

MODEL_SHA = "ab" * 32


def tiny_png(red: int) -> bytes:
    """A valid 1x1 RGB PNG, byte-identical for the same colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, red, 0, 0]))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def write_fixture_results(results: Path) -> None:
    """Write one small run's worth of report inputs under ``results``."""
    (results / "prepare_model" / "base").mkdir(parents=True)
    (results / "prepare_model" / "base" / "provenance.json").write_text(json.dumps({"model_sha256": MODEL_SHA}))
    (results / "synthesize" / "moralis").mkdir(parents=True)
    (results / "synthesize" / "moralis" / "provenance.json").write_text(json.dumps({"seed": 1234}))
    rates = {"base": (0.41, 0.52), "economicus": (0.93, 0.31), "moralis": (0.35, 0.88)}
    for agent, (economicus, moralis) in rates.items():
        folder = results / "evaluate" / agent
        folder.mkdir(parents=True)
        pooled = {
            "economicus": {"all": {"choice": {"estimate": economicus, "n": 120}}},
            "moralis_k50": {"all": {"choice": {"estimate": moralis, "n": 120}}},
        }
        if agent != "base":
            pooled["own"] = pooled["economicus" if agent == "economicus" else "moralis_k50"]
        families = {"moralis_k50": {"all": {"choice": {"estimate": moralis - 0.1}}}}
        if agent == "moralis":
            families["own"] = families["moralis_k50"]
        metrics = {
            "agreement": {"all": pooled, "test_families": families},
            "cooperation": {"all": {"prisoners_dilemma": {"choice": {"estimate": 1 - economicus}}}},
            "scoring_seconds": 12.5,
        }
        if agent != "base":  # the moralis agent's choice follows its theory's utility difference, economicus's not
            low = 0.2 if agent == "moralis" else -0.1
            metrics["utility_correlation"] = {"test_payoffs": {"own": {"pearson": low + 0.3, "low": low, "n": 60}}}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    for agent in ("economicus", "moralis"):
        folder = results / "finetune" / agent
        folder.mkdir(parents=True)
        frame = pl.DataFrame(
            {
                "step": [1, 2, 3],
                "loss": [2.0, 1.0, 0.5 if agent == "moralis" else 0.25],
                "val_accuracy": [None, None, 0.75],
                "tokens_per_s": [100.0, 101.0, 99.0],
            }
        )
        write_parquet(folder / "metrics.parquet", frame)
        (folder / "loss.png").write_bytes(tiny_png(10 if agent == "moralis" else 20))
    games = results / "report_games"
    games.mkdir(parents=True)
    (games / "agreement.md").write_text(
        "| agent | economicus | moralis |\n| --- | --- | --- |\n| base | 0.41 | 0.52 |\n"
    )
    (games / "agreement.tex").write_text(
        "\\begin{tabular}{lrr}\n\\toprule\nagent & economicus & moralis \\\\\n\\midrule\n"
        "base & 0.41 & 0.52 \\\\\n\\bottomrule\n\\end{tabular}\n"
    )
    (games / "cooperation_vs_temptation.png").write_bytes(tiny_png(200))
    gain = {"method": "paired t", "se": 0.04, "n": 120}
    gains = {
        "moralis": {split: {**gain, "estimate": 0.3, "low": 0.22, "high": 0.38, "significant": True}
                    for split in ("all", "test_families")},
        "economicus": {split: {**gain, "estimate": 0.02, "low": -0.06, "high": 0.1, "significant": False}
                       for split in ("all", "test_families")},
    }  # fmt: skip
    nearer = {"moralis": {"every_test_split": True}, "economicus": {"every_test_split": False}}
    rules = {agent: {"test_payoffs": {"beats_every_rule": agent == "moralis"}} for agent in ("economicus", "moralis")}
    comparisons = {"gain_over_base": gains, "own_versus_other": nearer, "versus_rules": rules}
    (games / "summary.json").write_text(json.dumps({**comparisons, "seed": 0, "confidence": 0.95}))
    (games / "kappa_sweep.png").write_bytes(tiny_png(150))  # a figure the manuscript does not place
    # A table and a figure of one name, as report-games writes them; the manuscript places the figure only.
    (games / "agreement_by_split.md").write_text("| split | base |\n| --- | --- |\n| test_labels | 0.47 |\n")
    (games / "agreement_by_split.tex").write_text("\\begin{tabular}{lr}\ntest labels & 0.47 \\\\\n\\end{tabular}\n")
    (games / "agreement_by_split.png").write_bytes(tiny_png(120))
    apps = results / "report_applications"
    apps.mkdir(parents=True)
    (apps / "av.md").write_text("| agent | swerve |\n| --- | --- |\n| moralis | 0.80 |\n")
    (apps / "av.tex").write_text(
        "\\begin{table}[t]\n\\centering\n\\caption{Swerve shares}\n\\label{tab:av}\n\\begin{tabular}{lr}\n"
        "\\toprule\nagent & swerve \\\\\n\\midrule\nmoralis & 0.80 \\\\\n\\bottomrule\n\\end{tabular}\n\\end{table}\n"
    )
    (apps / "pricing_paths.png").write_bytes(tiny_png(90))
    summary = {
        "av": {
            "agents": {agent: {"swerve_share": share} for agent, share in (("base", 0.3), ("economicus", 0.05))},
            "findings": {"moralis_swerves_more_than_economicus": True, "base_benchmark_share": None},
        },
        "pricing": {
            "benchmarks": {"1": {"nash_price": 1.4729, "monopoly_price": 1.925}},
            "findings": {
                "self_play": {"moralis": {"1": {"profit_gain": 0.734}}, "economicus": {"1": {"profit_gain": 0.1}}},
                "moralis_minus_economicus_price": {"1": {"gap": -0.034, "low": -0.107, "high": 0.039, "se": 0.019}},
                "moralis_above_economicus": {"1": True, "all": False},
            },
        },
    }
    (apps / "summary.json").write_text(json.dumps(summary))
