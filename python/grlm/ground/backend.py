"""The one place that chooses where structural grounding runs: ``device="cpu" | "cuda" | "auto"``.

``"auto"`` picks the GPU only when the CUDA kernel was compiled in *and* a CUDA device is visible
to the process (asked of the CUDA runtime, no torch needed); otherwise it falls back to the CPU
core without an error. ``"cuda"`` raises :class:`grlm.errors.CudaError` when either is missing.
"""

from __future__ import annotations

from typing import Literal

from grlm.errors import CudaError, InvalidInputError

Device = Literal["cpu", "cuda"]
DEVICES = ("cpu", "cuda", "auto")
# The CUDA kernel's largest k; larger k is served by the CPU core.
CUDA_MAX_K = 1024


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
        raise CudaError("device='cuda': grlm was built without the CUDA kernel "
                        "(no nvcc at build time or GRLM_CUDA=OFF)")
    if cuda_device_count() == 0:
        if device == "auto":
            return "cpu"
        raise CudaError("device='cuda': no CUDA device is visible (no GPU or no driver)")
    return "cuda"


class CudaGroundingCore:
    """A ``_core.Grounder`` whose grounding calls run structural mapping on the GPU.

    Direct mapping stays on the CPU (one hash probe per query); the structural top-k of all direct
    misses of a batch runs in one GPU batch. Results are identical to the CPU core's. Everything
    else (save, item_ids, ...) is the wrapped core's. k above 1024 is served by the CPU core.
    """

    def __init__(self, core, device_index: int = -1):
        from grlm import _core

        self._core = core
        self._scorer = _core.CudaStructuralScorer(core, device_index)

    @property
    def cpu_core(self):
        return self._core

    @property
    def cuda_scorer(self):
        return self._scorer

    def ground_batch(self, queries, k: int, num_threads: int = 0):
        from grlm import _core

        if k > CUDA_MAX_K:
            return self._core.ground_batch(queries, k, num_threads)
        return _core.ground_batch_cuda(self._core, self._scorer, queries, k)

    def ground_one(self, query, k: int):
        if not isinstance(query, (list, tuple)):
            raise TypeError(f"a Term ID must be a list or tuple of str, got {type(query).__name__}")
        hits, _, items, scores = self.ground_batch([query], k)
        return int(hits[0]), items.tolist(), scores.tolist()

    def __getattr__(self, name):
        return getattr(self._core, name)


def grounding_core(core, device: str):
    """Returns ``(resolved_device, core_to_use)`` for a ``_core.Grounder``: the core itself on the
    CPU, a :class:`CudaGroundingCore` around it on the GPU (the current CUDA device)."""
    if isinstance(core, CudaGroundingCore):
        core = core.cpu_core
    resolved = resolve_device(device)
    if resolved == "cuda":
        return resolved, CudaGroundingCore(core)
    return resolved, core
