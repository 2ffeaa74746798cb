"""The one timing helper every benchmark uses: the best wall time of repeats, and the machine."""

from __future__ import annotations

import time
from collections.abc import Callable


def measure(fn: Callable[[], object], *, repeat: int = 5, min_seconds: float = 0.2) -> float:
    """Seconds per call of fn, best of `repeat` samples (each loops fn for min_seconds): on a
    shared, noisy machine the fastest sample is the one least disturbed by other work."""
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        samples.append(elapsed / calls)
    return min(samples)


def machine() -> str:
    """CPU model and cores (and the GPU torch sees): :func:`grlm._machine.describe_machine`."""
    from grlm._machine import describe_machine

    return describe_machine()


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")


def measure_cuda(fn: Callable[[], object], *, repeat: int = 5, min_seconds: float = 0.2) -> float:
    """Device seconds per call of fn (work it enqueues on the current CUDA stream), measured with
    CUDA events so launch overhead on the host is not counted; best of `repeat` samples, each
    looping fn for at least min_seconds of device time."""
    import torch

    fn()  # warm-up
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeat):
        begin = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        calls, elapsed = 0, 0.0
        begin.record()
        while elapsed < min_seconds:
            fn()
            calls += 1
            end.record()
            end.synchronize()
            elapsed = begin.elapsed_time(end) / 1e3
        samples.append(elapsed / calls)
    return min(samples)
