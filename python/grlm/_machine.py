"""What a report or benchmark ran on: the CPU model, its cores, and the GPU torch sees."""

from __future__ import annotations

import os
import platform


def describe_machine() -> str:
    """``"<CPU model> (<N> cores)"``, with ``"; GPU <name>"`` when torch sees a CUDA GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    described = f"{cpu} ({os.cpu_count()} cores)"
    try:
        import torch

        if torch.cuda.is_available():
            described += f"; GPU {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return described
