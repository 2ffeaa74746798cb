"""The one place that chooses where structural grounding runs: ``device="cpu" | "cuda" | "auto"``.

``"auto"`` picks the GPU only when the CUDA kernel was compiled in *and* a CUDA device is visible
to the process (asked of the CUDA runtime, no torch needed); otherwise it falls back to the CPU
core without an error. ``"cuda"`` raises :class:`grlm.errors.CudaError` when either is missing.

On the GPU, a request for more than ``grlm._core.MAX_TOP_K`` (1024) items per query is served by
the CPU scorer, inside the core's one grounding policy (``grlm::Grounder``): the results are the
same, only slower. :class:`grlm.ground.cuda.CudaStructuralScorer`, which has no CPU scorer to
fall back on, raises InvalidInputError for such a k instead.
"""

from __future__ import annotations

from typing import Literal

from grlm.errors import CudaError, InvalidInputError

Device = Literal["cpu", "cuda"]
DEVICES = ("cpu", "cuda", "auto")


def cuda_compiled() -> bool:
    """Whether the compiled core contains the CUDA structural-scoring kernel."""
    from grlm import _core

    return bool(_core.cuda_compiled)


def cuda_device_count() -> int:
    """CUDA devices visible to this process (0 without a driver or GPU, or without CUDA)."""
    from grlm import _core

    return int(_core.cuda_device_count()) if _core.cuda_compiled else 0


def resolve_device(device: str) -> Device:
    """Maps a requested device to the one that will run: ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    InvalidInputError
        For anything but "cpu", "cuda" or "auto".
    CudaError
        For "cuda" when the kernel is not compiled in or no GPU is visible.
    """
    if device not in DEVICES:
        raise InvalidInputError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cpu":
        return "cpu"
    if not cuda_compiled():
        if device == "auto":
            return "cpu"
        raise CudaError(
            "device='cuda': grlm was built without the CUDA kernel "
            "(no nvcc at build time or GRLM_CUDA=OFF)"
        )
    if cuda_device_count() == 0:
        if device == "auto":
            return "cpu"
        raise CudaError("device='cuda': no CUDA device is visible (no GPU or no driver)")
    return "cuda"
