import hashlib
import json
import os
import stat

import polars as pl
import pytest

from econalign.io import config_hash, derive_seed, provenance, sha256_file, write_atomic, write_json, write_parquet


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_parquet_bytes_are_reproducible(tmp_path):
    frame = pl.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    write_parquet(tmp_path / "a.parquet", frame)
    write_parquet(tmp_path / "b.parquet", frame.clone())
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert pl.read_parquet(tmp_path / "a.parquet").equals(frame)


def test_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=1000) == hashlib.sha256(data).hexdigest()


def test_config_hash_ignores_key_order_but_not_values():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_derived_seeds_are_stable_distinct_and_32_bit():
    seeds = {derive_seed(0, "stage", i) for i in range(1000)}
    assert len(seeds) == 1000
    assert all(0 <= s < 2**32 for s in seeds)
    assert derive_seed(3, "x") == derive_seed(3, "x") != derive_seed(4, "x")


def test_provenance_carries_seed_config_and_versions():
    record = provenance({"seed": 5, "k": [1]}, model_sha256="ab")
    assert record["seed"] == 5
    assert record["config_hash"] == config_hash({"seed": 5, "k": [1]})
    assert record["model_sha256"] == "ab"
    assert record["packages"]["polars"] == pl.__version__


def test_a_stage_provenance_records_only_the_sections_it_was_given():
    import argparse

    from econalign.cli import config_from_args
    from econalign.config import without_runtime_settings

    given = {"seed": 7, "av": {"paraphrases": 1}, "pricing": {"periods": 300}}
    config = config_from_args(argparse.Namespace(config_json=json.dumps(given), command="av"))
    assert config["evaluate"]["confidence"] == 0.95  # defaults are still there for the code that reads them
    record = provenance(config)
    assert set(record["config"]) == {"av", "pricing", "seed"} and record["seed"] == 7
    assert record["config"]["pricing"]["periods"] == 300 and record["config"]["av"]["paraphrases"] == 1
    # Less the settings that change no result (the pricing checkpoint interval).
    assert "checkpoint_every" not in record["config"]["pricing"]
    expected = without_runtime_settings({key: config[key] for key in ("av", "pricing", "seed")})
    assert record["config_hash"] == config_hash(expected) == config_hash(config)
    # A plain resolved config is recorded whole, less the settings that change no result.
    assert set(provenance(dict(config))["config"]) == set(config) - {"tracking"}
    assert "progress" not in provenance(dict(config))["config"]["finetune"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_write_atomic_gives_the_mode_of_a_plain_open(tmp_path, umask):
    previous = os.umask(umask)
    try:
        written = write_atomic(tmp_path / "out.bin", b"x")
        with open(tmp_path / "plain.bin", "wb") as handle:
            handle.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE((tmp_path / "plain.bin").stat().st_mode)
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask


def test_concurrent_writes_keep_the_umask(tmp_path):
    # The hosted response cache writes from a thread pool; reading the umask must never loosen another write's mode.
    import sys
    import threading

    previous, interval = os.umask(0o077), sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(target=lambda k=k: [write_atomic(tmp_path / f"{k}-{i}", b"x") for i in range(100)])
            for k in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.umask(previous)
        sys.setswitchinterval(interval)
    modes = {stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes == {0o600}


def test_json_outputs_are_standard_json_without_nan_or_infinity(tmp_path):
    import numpy as np

    record = {"se": np.float32("nan"), "slope": -np.inf, "rates": np.array([0.5, np.nan]), "n": np.int64(3)}
    path = write_json(tmp_path / "metrics.json", record)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"n": 3, "rates": [0.5, None], "se": None, "slope": None}
