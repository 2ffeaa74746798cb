"""The one timing helper every benchmark uses: median wall time over repeats, and the machine."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable


def measure(fn: Callable[[], object], *, repeat: int = 5, min_seconds: float = 0.2) -> float:
    """Median seconds per call of fn; each sample loops fn until min_seconds have passed."""
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
    return statistics.median(samples)


def machine() -> str:
    """CPU model (and GPU name when torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return f"{cpu}; GPU {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return cpu


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
