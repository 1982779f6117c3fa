"""Device mesh, parameter and batch placement for data-parallel and FSDP training (``jax.sharding``).

The mesh has two axes: ``data`` (replicated parameters, split batch) and ``fsdp`` (parameters split along
their largest divisible dimension, batch split too). Both come from the config (``finetune.mesh``); a size of
-1 takes every device left. On one device everything is replicated and the code path is the same.

Launched on several hosts (SLURM, Open MPI, or an explicit ``JAX_COORDINATOR_ADDRESS``), :func:`initialize`
calls ``jax.distributed.initialize()`` before any device is touched; each process then builds the same global
batch (the schedule is deterministic) and places only its devices' shards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from econalign.config import ConfigError

DATA_AXES = ("data", "fsdp")


def launched_multihost(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment describes a multi-process launch that ``jax.distributed`` can join.

    Args:
        environ: Environment variables (default ``os.environ``).

    Returns:
        True for an explicit coordinator, or more than one SLURM task or Open MPI rank.
    """
    environ = os.environ if environ is None else environ
    if environ.get("JAX_COORDINATOR_ADDRESS"):
        return True
    return any(int(environ.get(key, "1") or "1") > 1 for key in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"))


def initialize(environ: Mapping[str, str] | None = None) -> bool:
    """Join a multi-host run when launched as one (idempotent).

    Args:
        environ: Environment variables (default ``os.environ``).

    Returns:
        Whether ``jax.distributed`` is initialised.
    """
    if not launched_multihost(environ):
        return False
    if not jax.distributed.is_initialized():
        jax.distributed.initialize()
    return True


def make_mesh(*, data: int = -1, fsdp: int = 1, devices: list[Any] | None = None) -> Mesh:
    """A ``("data", "fsdp")`` mesh over ``devices`` (default: all).

    Args:
        data: Size of the data axis; -1 takes the devices left after ``fsdp``.
        fsdp: Size of the fsdp axis; -1 takes the devices left after ``data``.
        devices: Devices to use (default: all); two explicit sizes use only the first ``data * fsdp``.

    Returns:
        The mesh.

    Raises:
        ConfigError: If the sizes do not multiply to the device count (a ValueError naming finetune/mesh).
    """
    devices = list(jax.devices() if devices is None else devices)
    if data == -1 and fsdp == -1:
        raise ConfigError("finetune/mesh: at most one of data and fsdp may be -1")
    if data > 0 and fsdp > 0 and data * fsdp < len(devices):
        devices = devices[: data * fsdp]  # an explicit smaller mesh uses the first devices
    count = len(devices)
    if data == -1:
        data = count // fsdp
    if fsdp == -1:
        fsdp = count // data
    if data * fsdp != count or data < 1:
        raise ConfigError(f"finetune/mesh: data={data} x fsdp={fsdp} does not match the {count} available device(s)")
    return Mesh(np.asarray(devices).reshape(data, fsdp), DATA_AXES)


def param_spec(shape: tuple[int, ...], fsdp: int) -> PartitionSpec:
    """FSDP partition of one parameter: its largest dimension divisible by ``fsdp`` goes on the ``fsdp`` axis.

    Args:
        shape: The parameter's shape.
        fsdp: Size of the fsdp axis.

    Returns:
        A ``PartitionSpec`` (replicated when ``fsdp`` is 1 or no dimension divides).

    Example:
        >>> tuple(param_spec((576, 192), 2))
        ('fsdp', None)
    """
    if fsdp <= 1 or not shape:
        return PartitionSpec()
    candidates = [axis for axis, size in enumerate(shape) if size % fsdp == 0]
    if not candidates:
        return PartitionSpec()
    axis = max(candidates, key=lambda a: (shape[a], -a))
    return PartitionSpec(*[("fsdp" if a == axis else None) for a in range(len(shape))])


def shard_params(tree: Any, mesh: Mesh) -> Any:
    """Place a pytree of parameters (or optimiser state) on ``mesh`` with :func:`param_spec`."""
    fsdp = mesh.shape["fsdp"]
    return jax.tree.map(
        lambda leaf: jax.device_put(leaf, NamedSharding(mesh, param_spec(np.shape(leaf), fsdp))),
        tree,
    )


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Place a host batch on ``mesh``, rows split over ``data`` x ``fsdp``.

    Every process passes the same global batch; each places only the shards of its own devices.

    Args:
        batch: Arrays with the batch on their first axis.
        mesh: The mesh.

    Returns:
        Global jax arrays.

    Raises:
        ValueError: If the rows do not divide over the mesh.
    """
    out = {}
    size = mesh.devices.size
    for key, value in batch.items():
        if value.shape[0] % size:
            raise ValueError(f"a batch of {value.shape[0]} rows does not split over {size} devices")
        sharding = NamedSharding(mesh, PartitionSpec(DATA_AXES, *[None] * (value.ndim - 1)))
        out[key] = jax.make_array_from_callback(value.shape, sharding, lambda index, v=value: v[index])
    return out


def to_host(tree: Any) -> Any:
    """Copy a pytree of (possibly sharded, possibly multi-host) arrays to host numpy arrays."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)
