"""Shared fixtures of the model tests: reference values, tiny checkpoints and the embedded model (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
TINY_ARCHS = ("llama", "qwen2", "mistral")


@pytest.fixture(scope="session")
def tiny_reference() -> dict:
    """HF transformers + torch values of the tiny checkpoints (tests/data/make_reference.py)."""
    return json.loads((DATA / "reference_tiny.json").read_text())


@pytest.fixture(scope="session")
def smollm2_reference() -> dict:
    """HF transformers + torch values of the prepared embedded model."""
    return json.loads((DATA / "reference_smollm2.json").read_text())


def tiny_dir(arch: str) -> Path:
    return DATA / f"tiny-{arch}"


@pytest.fixture(scope="session")
def tiny_agents() -> dict:
    from econalign.model.agent import load_agent

    return {arch: load_agent(tiny_dir(arch), progress=False) for arch in TINY_ARCHS}


def _call(model, tokens, positions=None, mask=None, cache=None, logits_at=None, output_hidden_states=False):
    return model(
        tokens, positions, mask=mask, cache=cache, logits_at=logits_at, output_hidden_states=output_hidden_states
    )


# One compilation per shape instead of op-by-op dispatch: the tests run several times faster.
_jitted = None


def forward(model, tokens, positions=None, *, mask=None, cache=None, logits_at=None, output_hidden_states=False):
    """``model(...)`` under ``nnx.jit``."""
    global _jitted
    if _jitted is None:
        from flax import nnx

        _jitted = nnx.jit(_call, static_argnames="output_hidden_states")
    return _jitted(model, tokens, positions, mask, cache, logits_at, output_hidden_states=output_hidden_states)


def random_model(config, seed: int = 0, scale: float = 0.3):
    """A model with numpy-drawn weights: much faster than ``Llama(config, rngs=...)``'s eager initialisers."""
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from econalign.model.llama import Llama

    graphdef, state = nnx.split(nnx.eval_shape(lambda: Llama(config, rngs=nnx.Rngs(0))))
    rng = np.random.default_rng(seed)
    for path, var in nnx.to_flat_state(state):
        value = rng.normal(0.0, scale, var.shape) + (1.0 if path[-1] == "weight" else 0.0)  # norms near 1
        var.set_value(jnp.asarray(value, dtype=var.dtype))
    return nnx.merge(graphdef, state)
