"""A profile over many processes and machines on PyTorch's own distributed engine, as ``torchrun`` starts it.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in every process
it starts; each process profiles its own shard of the images, and the counts
are added up with a collective (gloo on the CPU, NCCL on GPUs) so that rank 0
can write the one report.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from .errors import InputError

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        """The one process that writes reports and shows progress."""
        return self.rank == 0


def world_from_env(environ: dict[str, str] | None = None) -> World:
    """Where this process sits among those ``torchrun`` started; one process when it did not start this one."""
    environ = dict(os.environ if environ is None else environ)
    try:
        size = int(environ.get("WORLD_SIZE", "1"))
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise InputError(f"WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers ({error})") from None
    if size < 1 or not 0 <= rank < size or local_rank < 0:
        raise InputError(f"RANK {rank} and WORLD_SIZE {size} do not describe a process group")
    return World(rank, size, local_rank)


def rank_device(device: torch.device, world: World) -> torch.device:
    """Each process on a machine takes its own GPU (the one its LOCAL_RANK names); CPUs are shared."""
    if device.type != "cuda" or world.size == 1:
        return device
    if world.local_rank >= torch.cuda.device_count():
        raise InputError(
            f"LOCAL_RANK {world.local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
            "start at most that many processes per node"
        )
    torch.cuda.set_device(world.local_rank)
    return torch.device("cuda", world.local_rank)


def join(world: World, device: torch.device) -> bool:
    """Join the process group torchrun set up (NCCL for GPUs, gloo for CPUs); False for a single process."""
    if world.size == 1 or dist.is_initialized():
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    LOGGER.info("rank %d of %d joined the %s group", world.rank, world.size, dist.get_backend())
    return True


def leave(joined: bool) -> None:
    if joined and dist.is_initialized():
        dist.destroy_process_group()


def gather(value: object, world: World) -> list[object]:
    """Every process's ``value``, in rank order, on every process (one collective over the group)."""
    if world.size == 1:
        return [value]
    values: list[object] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


class Shard(Sampler[int]):
    """Every ``size``-th index from ``rank``, after the first ``skip`` of them (those a resumed run has counted).

    PyTorch's DistributedSampler repeats images to give every rank the same
    number; that would count them twice, so a shard here is simply shorter.
    """

    def __init__(self, length: int, world: World, skip: int = 0) -> None:
        self.indices = range(world.rank, length, world.size)[skip:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def shard_length(length: int, world: World) -> int:
    """How many of ``length`` images this process profiles."""
    return len(range(world.rank, length, world.size))
