from pathlib import Path

import pytest

from econalign.model.runtime import CACHE_ENV, compilation_cache_dir


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert compilation_cache_dir() == tmp_path / "c"
    monkeypatch.setenv(CACHE_ENV, "off")
    assert compilation_cache_dir() is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == Path(tmp_path) / "econalign" / "jax"


@pytest.mark.parametrize("value", ["OFF", "0", "false"])
def test_cache_can_be_disabled(monkeypatch, value):
    monkeypatch.setenv(CACHE_ENV, value)
    assert compilation_cache_dir() is None
