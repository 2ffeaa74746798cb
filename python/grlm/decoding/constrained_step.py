"""One constrained beam-search step per beam row: log-probabilities of the allowed children of the
row's trie node plus the beam score, and the exact per-row top-k.

One dispatch point, :func:`constrained_topk`, with two backends: ``"torch"`` (any device, the
reference of the kernel) and ``"triton"`` (the fused kernel of :mod:`grlm.kernels`, imported
lazily; on the CPU only under ``TRITON_INTERPRET=1``). ``"auto"`` picks Triton on CUDA when it
is importable.
"""

from __future__ import annotations

from grlm.errors import InvalidInputError

NORMALIZATIONS = ("full", "allowed")


def _check(logits, node, score, k, normalization):
    if normalization not in NORMALIZATIONS:
        raise InvalidInputError(
            f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
        )
    if logits.dim() != 2:
        raise InvalidInputError(
            f"logits must be 2-D (rows, vocab), got shape {tuple(logits.shape)}"
        )
    rows = logits.shape[0]
    if node.shape != (rows,) or score.shape != (rows,):
        raise InvalidInputError(
            f"node {tuple(node.shape)} and score {tuple(score.shape)} must have shape ({rows},)"
        )
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")


def triton_available(device) -> bool:
    """Whether the Triton backend can run on ``device`` (CUDA with triton, or the interpreter)."""
    import os

    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


def resolve_backend(backend: str, device) -> str:
    if backend == "auto":
        return "triton" if device.type == "cuda" and triton_available(device) else "torch"
    if backend not in ("torch", "triton"):
        raise InvalidInputError(f"backend must be 'auto', 'torch' or 'triton', got {backend!r}")
    if backend == "triton" and not triton_available(device):
        raise InvalidInputError(
            f"the triton backend needs triton and a CUDA device (or "
            f"TRITON_INTERPRET=1 on the CPU); device is {device}"
        )
    return backend


def constrained_topk(
    logits, node, score, arrays, k: int, *, normalization: str = "full", backend: str = "auto"
):
    """Per row ``r``: the ``k`` best ``score[r] + log p(token | row)`` over the live children of
    trie node ``node[r]``.

    Parameters
    ----------
    logits
        ``(rows, vocab)`` raw logits (any float dtype; computed in float32).
    node
        ``(rows,)`` trie node of each row.
    score
        ``(rows,)`` float32 beam scores; ``-inf`` marks a dead row (it yields only fillers).
    arrays
        :class:`grlm.decoding.trie.TrieArrays` on the logits' device.
    normalization
        ``"full"``: log-softmax over the whole vocabulary (Hugging Face's). ``"allowed"``
        (experimental): renormalised over the allowed children only.

    Returns
    -------
    (values, edges)
        ``(rows, k)`` float32 sorted descending and ``(rows, k)`` int64 edge ids into
        ``arrays.child_token`` / ``arrays.child_node``; fillers (fewer than ``k`` live children,
        a dead row) are ``-inf`` with edge ``-1``. Ties go to the lower token.
    """
    _check(logits, node, score, k, normalization)
    backend = resolve_backend(backend, logits.device)
    if backend == "triton":
        from grlm.kernels.constrained_step import constrained_topk_triton

        return constrained_topk_triton(logits, node, score, arrays, k, normalization=normalization)
    return constrained_topk_torch(logits, node, score, arrays, k, normalization=normalization)


def child_edges(arrays, node, active):
    """The children of trie node ``node[r]`` for each ``active`` row ``r``, gathered from the
    CSR arrays: ``(rows, edge, token, live)`` where ``rows`` are the active rows with any child
    and, per such row, ``edge``/``token`` (int64, ``(len(rows), max degree)``) are its edges
    and their tokens, ``live`` marks the real edges whose child still leads to an item (the
    rest is padding). ``node`` is int64 and a valid node index on every row."""
    import torch

    # Index the int32 arrays first and widen the few values read: widening whole arrays would
    # copy every node and edge at every step.
    start = arrays.row_ptr[node].long()
    degree = torch.where(active, arrays.row_ptr[node + 1].long() - start, 0)
    rows = torch.nonzero(degree > 0).flatten()
    if rows.numel() == 0:
        return rows, None, None, None
    degree = degree[rows]
    position = torch.arange(int(degree.max()), device=node.device)
    in_row = position[None, :] < degree[:, None]
    edge = torch.where(in_row, start[rows, None] + position[None, :], 0)
    token = arrays.child_token[edge].long()
    live = in_row & (arrays.live[arrays.child_node[edge]] > 0)
    return rows, edge, token, live


def constrained_topk_torch(logits, node, score, arrays, k: int, *, normalization: str = "full"):
    """Plain-torch implementation of :func:`constrained_topk` (gathers each live row's edges)."""
    import torch

    rows = logits.shape[0]
    device = logits.device
    values = torch.full((rows, k), float("-inf"), dtype=torch.float32, device=device)
    edges = torch.full((rows, k), -1, dtype=torch.int64, device=device)
    live_rows, edge, token, ok = child_edges(arrays, node.long(), torch.isfinite(score))
    if live_rows.numel() == 0:
        return values, edges
    row_logits = logits[live_rows].float()
    chosen = row_logits.gather(1, token)
    if normalization == "full":
        log_probs = torch.log_softmax(row_logits, dim=-1).gather(1, token)
    else:
        masked = torch.where(ok, chosen, float("-inf"))
        log_probs = chosen - torch.logsumexp(masked, dim=1, keepdim=True)
    candidate = torch.where(ok, log_probs + score[live_rows, None], float("-inf"))
    # A stable descending sort keeps ties in edge (= token) order.
    order = torch.sort(candidate, dim=1, descending=True, stable=True).indices[:, :k]
    kk = order.shape[1]
    best = candidate.gather(1, order)
    values[live_rows, :kk] = best
    edges[live_rows, :kk] = torch.where(torch.isfinite(best), edge.gather(1, order), -1)
    return values, edges


def free_topk(logits, score, k: int):
    """Unconstrained per-row top-k of ``score + log_softmax(logits)``: (values, tokens)."""
    import torch

    log_probs = torch.log_softmax(logits.float(), dim=-1) + score[:, None]
    values, tokens = torch.topk(log_probs, k, dim=1)
    return values, tokens
