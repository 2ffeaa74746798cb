"""One timing helper for every benchmark: wall time on the CPU, CUDA events on the GPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_call(fn: Callable[[], object], *, cuda: bool = False, warmup: int = 1,
              min_iters: int = 3, max_iters: int = 50, budget_s: float = 1.0) -> float:
    """Median seconds of one ``fn()`` call.

    Runs ``warmup`` calls, then repeats until ``budget_s`` is spent (between ``min_iters`` and
    ``max_iters`` calls). With ``cuda=True`` each call is timed with CUDA events on the current
    stream, so the number is device time and not launch overhead.
    """
    for _ in range(warmup):
        fn()
    if cuda:
        import torch

        torch.cuda.synchronize()
    times: list[float] = []
    start_all = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters
                                      or time.perf_counter() - start_all < budget_s):
        if cuda:
            import torch

            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)
