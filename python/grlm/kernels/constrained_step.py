"""Launcher of the fused constrained step (kernel body: _constrained_step_kernel.py).

Called through :func:`grlm.decoding.constrained_step.constrained_topk`; see it for the contract.
"""

from __future__ import annotations


def constrained_topk_triton(logits, node, score, arrays, k: int, *, normalization: str = "full"):
    import torch
    import triton

    from grlm.kernels._constrained_step_kernel import constrained_topk_kernel

    rows, vocab = logits.shape
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    device = logits.device
    for name, tensor in (
        ("node", node),
        ("score", score),
        ("row_ptr", arrays.row_ptr),
        ("live", arrays.live),
    ):
        if tensor.device != device:
            raise ValueError(f"{name} is on {tensor.device}, logits on {device}")
    score = score.to(torch.float32).contiguous()
    node = node.contiguous()
    values = torch.empty((rows, k), dtype=torch.float32, device=device)
    edges = torch.empty((rows, k), dtype=torch.int64, device=device)
    if rows == 0:
        return values, edges
    block_e = max(16, triton.next_power_of_2(k))
    constrained_topk_kernel[(rows,)](
        logits,
        logits.stride(0),
        vocab,
        node,
        score,
        arrays.row_ptr,
        arrays.child_token,
        arrays.child_node,
        arrays.live,
        values,
        edges,
        k,
        FULL=normalization == "full",
        BLOCK_V=1024,
        BLOCK_E=block_e,
        num_warps=4,
    )
    return values, edges
