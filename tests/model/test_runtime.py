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
        # A bfloat16 model loaded later must not lower the float32 one's products (the setting is process-wide).
        assert set_matmul_precision("bfloat16") == "highest"
        jax.config.update("jax_default_matmul_precision", None)
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


X86_FLAGS = "".join(f"processor\t: {i}\nflags\t\t: fpu sse2 avx2 avx512f {{extra}}\n\n" for i in range(2))


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        (X86_FLAGS.format(extra="avx512_bf16 avx512_vnni"), True),  # AMD Zen 4, Intel Cooper Lake
        (X86_FLAGS.format(extra="amx_bf16 amx_tile"), True),  # Intel Sapphire Rapids
        (X86_FLAGS.format(extra="avx512_vnni"), False),  # int8 dot products only
        ("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n", True),  # Arm, e.g. Graviton 3
        ("processor\t: 0\nFeatures\t: fp asimd crc32\n", False),
        ("", None),
    ],
)
def test_bfloat16_instructions_are_read_off_the_cpu_flags(cpuinfo, expected):
    from econalign.model.runtime import cpu_multiplies_bfloat16

    assert cpu_multiplies_bfloat16(cpuinfo) is expected


def test_a_bfloat16_precision_on_a_cpu_without_the_instructions_warns(monkeypatch):
    from conftest import tiny_dir

    import econalign.model.runtime as runtime
    from econalign.model.params import load_llama

    monkeypatch.setattr(runtime, "cpu_multiplies_bfloat16", lambda: False)
    with pytest.warns(RuntimeWarning, match="without bfloat16 dot-product instructions"):
        model = load_llama(tiny_dir("llama"), dtype="bfloat16-mixed")  # it still loads and runs
    assert model.config.mixed_precision
    with pytest.warns(RuntimeWarning, match="'bfloat16' on a CPU"):
        assert runtime.warn_if_emulated_bfloat16("bfloat16")
    assert runtime.warn_if_emulated_bfloat16("float32") is None
    for known in (True, None):  # the instructions are there, or the flags cannot be read: nothing to say
        monkeypatch.setattr(runtime, "cpu_multiplies_bfloat16", lambda known=known: known)
        assert runtime.warn_if_emulated_bfloat16("bfloat16-mixed") is None
