"""Which part of a catalog this process generates, under ``torchrun`` / ``accelerate launch``.

Those launchers start one process per device and set WORLD_SIZE, RANK and LOCAL_RANK; each
process generates every world-th item into a log of its own, and the main process (rank 0)
merges the logs once every shard is written. One process alone is the shard 0 of 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Shard"]


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world`` CTG processes; ``device`` is the rank's own device
    (None in one process, where the caller's ``device`` applies)."""

    rank: int = 0
    world: int = 1
    device: str | None = None
    _dist: Any = None

    @classmethod
    def from_environment(cls) -> Shard:
        """The shard the launcher's environment describes; joins its process group (gloo on
        CPUs, nccl on GPUs) when there are several processes."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        from datetime import timedelta

        import torch
        import torch.distributed as dist

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        if not dist.is_initialized():
            # Shards finish at different times; the merge waits for the slowest one.
            dist.init_process_group(
                "nccl" if device != "cpu" else "gloo", timeout=timedelta(hours=24)
            )
        return cls(dist.get_rank(), dist.get_world_size(), device, dist)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def log_path(self, log_path: os.PathLike[str] | str) -> str:
        """This shard's generation log: ``log_path`` itself in one process, else
        ``<log_path>.rank<r>``."""
        log_path = os.fspath(log_path)
        return log_path if self.world == 1 else f"{log_path}.rank{self.rank}"

    def items(self, items):
        """The items this shard generates: every world-th from its rank on."""
        return items[self.rank :: self.world]

    def gather_timings(self, timing: dict[str, Any]) -> dict[str, Any] | None:
        """Waits for every shard; on the main process, the timing of all of them (items
        generated, seconds of the slowest); None elsewhere. Leaves the process group."""
        if self._dist is None:
            return timing
        dist = self._dist
        # Also the barrier: every shard is logged once this returns.
        timings = [None] * self.world
        dist.all_gather_object(timings, timing)
        # Every rank past its last collective before any tears gloo down: a rank destroying the
        # group while a peer's all_gather is still in flight aborted that peer at exit
        # ("terminate called without an active exception", about 1 run in 3 with two CPU ranks).
        dist.barrier()
        dist.destroy_process_group()
        if not self.is_main:
            return None
        return {
            "generated": sum(t["generated"] for t in timings),
            "seconds": max(t["seconds"] for t in timings),
        }
