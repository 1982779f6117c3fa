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


def test_float32_models_ask_for_full_float32_products():
    import jax
    import jax.numpy as jnp
    import numpy as np

    from econalign.model.runtime import set_matmul_precision

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 64), np.float32), rng.standard_normal((64, 64), np.float32)
    try:
        assert set_matmul_precision("float32") == "highest"
        assert jax.config.jax_default_matmul_precision == "highest"
        np.testing.assert_allclose(np.asarray(jnp.asarray(a) @ jnp.asarray(b)), a @ b, rtol=1e-5, atol=1e-5)
        assert set_matmul_precision("bfloat16") == "default"
        assert jax.config.jax_default_matmul_precision is None
    finally:
        jax.config.update("jax_default_matmul_precision", None)


def test_loading_a_float32_checkpoint_sets_full_float32_products(repo_root):
    import jax

    from econalign.model.params import load_llama

    try:
        jax.config.update("jax_default_matmul_precision", None)
        load_llama(repo_root / "tests/data/tiny-llama", dtype="float32")
        assert jax.config.jax_default_matmul_precision == "highest"
    finally:
        jax.config.update("jax_default_matmul_precision", None)
