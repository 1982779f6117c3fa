"""graph_jit: one compiled closure per GraphDef value, hashed once per loop, argnums counted in the full signature."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from econalign.model.staging import graph_jit


class CountingGraph:
    """A stand-in GraphDef: equal by value, counting how often it is hashed."""

    hashes = 0

    def __init__(self, scale: float):
        self.scale = scale

    def __hash__(self) -> int:
        CountingGraph.hashes += 1
        return hash(self.scale)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountingGraph) and other.scale == self.scale


def test_one_trace_per_graph_value_and_one_hash_per_loop():
    traces = []

    @graph_jit(static_argnums=(2,))
    def scaled(graph, x, power):
        traces.append(power)
        return x**power * graph.scale

    graph = CountingGraph(2.0)
    x = jnp.arange(3.0)
    np.testing.assert_allclose(scaled(graph, x, 2), 2.0 * np.arange(3.0) ** 2)
    hashes = CountingGraph.hashes
    for _ in range(4):
        np.testing.assert_allclose(scaled(graph, x, 2), 2.0 * np.arange(3.0) ** 2)
    assert CountingGraph.hashes == hashes  # the same object again: no lookup by value
    assert traces == [2]
    np.testing.assert_allclose(scaled(CountingGraph(2.0), x, 2), 2.0 * np.arange(3.0) ** 2)  # equal value: no trace
    assert traces == [2]
    np.testing.assert_allclose(scaled(CountingGraph(3.0), x, 3), 3.0 * np.arange(3.0) ** 3)
    assert traces == [2, 3]


def test_donated_argument_is_counted_in_the_full_signature():
    @graph_jit(donate_argnums=(1,))
    def add(graph, buffer, x):
        return buffer + x * graph.scale

    buffer = jnp.zeros(4)
    out = add(CountingGraph(1.0), buffer, jnp.ones(4))
    np.testing.assert_allclose(out, np.ones(4))
    assert buffer.is_deleted()


def test_the_graph_argument_cannot_be_static_or_donated():
    with pytest.raises(ValueError, match="GraphDef"):
        graph_jit(static_argnums=(0,))(lambda graph, x: x)
