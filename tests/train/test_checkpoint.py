from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from econalign.train.checkpoint import CheckpointMismatchError, load_checkpoint, read_metadata, save_checkpoint


def state(seed: int):
    rng = np.random.default_rng(seed)
    params = {"layers": {0: {"a": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)}}, "b": jnp.ones(4)}
    return {"params": params, "opt": optax.adamw(1e-3).init(params)}


def test_round_trip_restores_every_leaf_and_metadata(tmp_path):
    saved = state(0)
    save_checkpoint(tmp_path, saved, metadata={"step": 3, "metrics": [{"loss": 1.5}]})
    restored, meta = load_checkpoint(tmp_path, state(1))
    assert meta == {"step": 3, "metrics": [{"loss": 1.5}]} == read_metadata(tmp_path)
    for a, b in zip(*(jnp_leaves(x) for x in (saved, restored)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.asarray(a).dtype == np.asarray(b).dtype


def jnp_leaves(tree):
    import jax

    return jax.tree.leaves(tree)


def test_missing_checkpoint(tmp_path):
    assert read_metadata(tmp_path) is None
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path, state(0))


def test_mismatched_template_names_the_leaf(tmp_path):
    save_checkpoint(tmp_path, state(0), metadata={})
    other = state(0)
    other["params"]["b"] = jnp.ones(5)
    other["opt"] = optax.adamw(1e-3).init(other["params"])
    with pytest.raises(CheckpointMismatchError, match=r"mu/b.*float32\[4\].*float32\[5\]"):
        load_checkpoint(tmp_path, other)


def test_overwrite_leaves_no_temporary_files(tmp_path):
    save_checkpoint(tmp_path, state(0), metadata={"step": 1})
    save_checkpoint(tmp_path, state(1), metadata={"step": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["state.safetensors"]
    assert read_metadata(tmp_path)["step"] == 2
