"""The pipeline under ``torchrun`` (or ``accelerate launch``): which stages every process runs,
the barrier between stages, and the merge of the evaluation users each process took.

Every process runs ``train`` (data-parallel through ``transformers.Trainer``) and
``recommend`` (process ``r`` of ``w`` takes the cases ``r::w``); process 0 alone runs the other
stages and writes every marker and report while the others wait.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from grlm._io import atomic_write_json

# Under torchrun every process runs these (training data-parallel, evaluation users sharded);
# process 0 alone runs the others while the rest wait.
SHARED_STAGES = ("train", "recommend")


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, number of processes) as torchrun / accelerate launch set them."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def wait_for_everyone() -> None:
    """A barrier of every process (nothing in one process). Starts the process group when no
    stage has yet (training skipped as up to date): gloo on the CPU, NCCL on GPUs, which
    ``transformers.Trainer`` then reuses."""
    if rank_and_world()[1] == 1:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dist.barrier()


def merge_shards(run, prefix: Path, rank: int, world: int):
    """Under torchrun: every process's share of the users (``cases[rank::world]``) merged, in
    the cases' order, by process 0 (None elsewhere). Generation and grounding seconds are the
    slowest process's: the wall time of the sharded evaluation."""
    from grlm.recommend import RecommendRun, UserRecommendation

    part = Path(f"{prefix}.part{rank}.json")
    atomic_write_json(
        part,
        {
            "users": [dataclasses.asdict(u) for u in run.users],
            "timing": [run.generation_seconds, run.grounding_seconds],
            "counts": [run.ground_queries, run.unparsed_beams],
        },
        default=str,
    )
    wait_for_everyone()
    if rank != 0:
        return None
    parts = []
    for r in range(world):
        path = Path(f"{prefix}.part{r}.json")
        parts.append(json.loads(path.read_text()))
        path.unlink()
    merged = RecommendRun()
    total = sum(len(p["users"]) for p in parts)
    merged.users = [
        UserRecommendation(**parts[i % world]["users"][i // world]) for i in range(total)
    ]
    merged.generation_seconds = max(p["timing"][0] for p in parts)
    merged.grounding_seconds = max(p["timing"][1] for p in parts)
    merged.ground_queries = sum(p["counts"][0] for p in parts)
    merged.unparsed_beams = sum(p["counts"][1] for p in parts)
    return merged
