"""Triton body of the fused constrained beam-search step (launcher: constrained_step.py).

One program per beam row:
1. ``FULL``: the log-normaliser of the row over the whole vocabulary (online max / sum);
2. a pass over the row's trie edges only: the logit of each live child packed with its edge
   position into one int64 key (order-preserving float bits << 32 | reversed position, so equal
   logits prefer the lower token), and a running top-``BLOCK_E`` kept sorted by the bitonic
   merge ``sort(max(best_descending, chunk_ascending))``: exact, no rows x vocab mask, no
   full-vocabulary top-k;
3. the first ``k`` keys decoded into ``(logit - lse) + score`` and edge ids.
"""

import triton
import triton.language as tl


@triton.jit
def _pack(x, position):
    x = tl.where(x == 0.0, 0.0, x)  # -0.0 and +0.0 must tie
    bits = x.to(tl.int32, bitcast=True)
    ordered = tl.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)
    return (ordered.to(tl.int64) << 32) | (0xFFFFFFFF - position.to(tl.int64))


@triton.jit
def constrained_topk_kernel(
    logits_ptr,
    stride_row,
    vocab,
    node_ptr,
    score_ptr,
    row_ptr_ptr,
    child_token_ptr,
    child_node_ptr,
    live_ptr,
    out_value_ptr,
    out_edge_ptr,
    k,
    FULL: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    score = tl.load(score_ptr + row)
    node = tl.load(node_ptr + row).to(tl.int64)
    start = tl.load(row_ptr_ptr + node)
    end = tl.load(row_ptr_ptr + node + 1)
    end = tl.where(score == float("-inf"), start, end)
    row_logits = logits_ptr + row * stride_row

    # Online log-sum-exp, one lane per column of the block.
    lane_max = tl.full([BLOCK_V], float("-inf"), tl.float32)
    lane_sum = tl.zeros([BLOCK_V], tl.float32)
    if FULL:
        for v0 in range(0, vocab, BLOCK_V):
            cols = v0 + tl.arange(0, BLOCK_V)
            x = tl.load(row_logits + cols, mask=cols < vocab, other=float("-inf")).to(tl.float32)
            new_max = tl.maximum(lane_max, x)
            safe = tl.where(new_max == float("-inf"), 0.0, new_max)
            lane_sum = lane_sum * tl.exp(lane_max - safe) + tl.exp(x - safe)
            lane_max = new_max

    min_key = tl.full([BLOCK_E], -9223372036854775808, tl.int64)
    best = min_key
    for e0 in range(start, end, BLOCK_E):
        edges = e0 + tl.arange(0, BLOCK_E)
        in_row = edges < end
        token = tl.load(child_token_ptr + edges, mask=in_row, other=0)
        child = tl.load(child_node_ptr + edges, mask=in_row, other=0)
        live = tl.load(live_ptr + child, mask=in_row, other=0)
        ok = in_row & (live > 0)
        x = tl.load(row_logits + token, mask=ok, other=float("-inf")).to(tl.float32)
        ok = ok & (x != float("-inf"))
        key = tl.where(ok, _pack(x, edges - start), min_key)
        best = tl.sort(tl.maximum(best, tl.sort(key, descending=False)), descending=True)

    if FULL:
        top = tl.max(lane_max, axis=0)
        total = tl.sum(
            tl.where(lane_max == float("-inf"), 0.0, lane_sum * tl.exp(lane_max - top)), axis=0
        )
        lse = top + tl.log(total)
    else:
        # Renormalise over the allowed children: the log-sum-exp of the kept keys' logits is not
        # enough (only the top BLOCK_E are kept), so a second pass over the edges computes it.
        acc_max = tl.full([BLOCK_E], float("-inf"), tl.float32)
        acc_sum = tl.zeros([BLOCK_E], tl.float32)
        for e0 in range(start, end, BLOCK_E):
            edges = e0 + tl.arange(0, BLOCK_E)
            in_row = edges < end
            token = tl.load(child_token_ptr + edges, mask=in_row, other=0)
            child = tl.load(child_node_ptr + edges, mask=in_row, other=0)
            live = tl.load(live_ptr + child, mask=in_row, other=0)
            x = tl.load(row_logits + token, mask=in_row & (live > 0), other=float("-inf")).to(
                tl.float32
            )
            new_max = tl.maximum(acc_max, x)
            safe = tl.where(new_max == float("-inf"), 0.0, new_max)
            acc_sum = acc_sum * tl.exp(acc_max - safe) + tl.exp(x - safe)
            acc_max = new_max
        top = tl.max(acc_max, axis=0)
        total = tl.sum(
            tl.where(acc_max == float("-inf"), 0.0, acc_sum * tl.exp(acc_max - top)), axis=0
        )
        lse = top + tl.log(total)

    slots = tl.arange(0, BLOCK_E)
    filler = best == -9223372036854775808
    ordered = (best >> 32).to(tl.int32)
    bits = tl.where(ordered >= 0, ordered, ordered ^ 0x7FFFFFFF)
    x = bits.to(tl.float32, bitcast=True)
    position = 0xFFFFFFFF - (best & 0xFFFFFFFF)
    value = tl.where(filler, float("-inf"), (x - lse) + score)
    edge = tl.where(filler, -1, start + position)
    out = row * k + slots
    tl.store(out_value_ptr + out, value, mask=slots < k)
    tl.store(out_edge_ptr + out, edge, mask=slots < k)
