"""CUDA structural scoring vs a plain-torch baseline on the same GPU.

Per row (N items x 5 terms, Q queries, top-k): the kernel's device time per batch and per query,
the torch baseline ``(items[None] == queries[:, None]).half() @ w`` + ``torch.topk`` (chunked to
fit memory), the speed-up, and the achieved bandwidth (term-matrix bytes / kernel time) against the
measured device-to-device copy bandwidth. Results are checked against an exact float64 reference
before anything is timed.

    python bench/bench_gpu_structural.py                 # N in {1M, 10M}, Q in {1, 64, 1024}
    python bench/bench_gpu_structural.py --sizes 1000000 --queries 64 --k 10
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, measure_cuda

LENGTH = 5
# Hierarchical Term IDs: few values at the first position, many at the last (like category ->
# subcategory -> attributes); term ids of different positions are distinct.
POSITION_VOCAB = (200, 2000, 50000, 50000, 50000)


def make_catalog(torch, n: int, seed: int):
    g = torch.Generator(device="cuda").manual_seed(seed)
    columns, offset = [], 0
    for size in POSITION_VOCAB:
        columns.append(torch.randint(0, size, (n,), generator=g, device="cuda") + offset)
        offset += size
    items = torch.stack(columns, dim=1).to(torch.int32).contiguous()
    tie_rank = torch.randperm(n, generator=g, device="cuda").to(torch.int32)
    return items, tie_rank, offset


def make_queries(torch, items, q: int, seed: int):
    """Catalog Term IDs with each position replaced by another term of that position w.p. 0.3."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    rows = items[torch.randint(0, items.shape[0], (q,), generator=g, device="cuda")].clone()
    offset = 0
    for j, size in enumerate(POSITION_VOCAB):
        replace = torch.rand(q, generator=g, device="cuda") < 0.3
        other = torch.randint(0, size, (q,), generator=g, device="cuda").to(torch.int32) + offset
        rows[:, j] = torch.where(replace, other, rows[:, j])
        offset += size
    return rows.contiguous()


def exact_reference(torch, items, tie_rank, query, weights, k):
    """Top-k of one query in float64, summed in increasing j like the CPU core; ties by tie rank."""
    score = torch.zeros(items.shape[0], dtype=torch.float64, device="cuda")
    for j in range(LENGTH):
        score = score + (items[:, j] == query[j]).double() * weights[j]
    nz = torch.nonzero(score > 0).flatten()
    s, r = score[nz].cpu().numpy(), tie_rank[nz].cpu().numpy()
    order = np.lexsort((r, -s))[:k]
    return nz.cpu().numpy()[order], s[order]


def torch_baseline(torch, items, queries, w_half, k, budget=1 << 28):
    """The plain-torch baseline, chunked over items (and queries) to bound temporary memory."""
    q_total, n = queries.shape[0], items.shape[0]
    q_chunk = max(1, min(q_total, budget // (LENGTH * 4096)))
    n_chunk = max(k, min(n, budget // (q_chunk * LENGTH)))
    out_s, out_i = [], []
    for q0 in range(0, q_total, q_chunk):
        qs = queries[q0 : q0 + q_chunk]
        best_s = best_i = None
        for n0 in range(0, n, n_chunk):
            block = items[n0 : n0 + n_chunk]
            s = (block[None] == qs[:, None]).half() @ w_half
            ts, ti = torch.topk(s, min(k, s.shape[1]), dim=1)
            ti = ti + n0
            if best_s is not None:
                ts, pick = torch.topk(torch.cat([best_s, ts], 1), k, dim=1)
                ti = torch.gather(torch.cat([best_i, ti], 1), 1, pick)
            best_s, best_i = ts, ti
        out_s.append(best_s)
        out_i.append(best_i)
    return torch.cat(out_s), torch.cat(out_i)


def copy_bandwidth(torch) -> float:
    """Device-to-device copy bandwidth, bytes read + written per second."""
    src = torch.empty(1 << 28, dtype=torch.int32, device="cuda")  # 1 GiB
    dst = torch.empty_like(src)
    t = measure_cuda(lambda: dst.copy_(src), repeat=5, min_seconds=0.05)
    return 2 * src.numel() * 4 / t


def print_kernel_profile(torch, fn, title: str, calls: int = 20) -> None:
    """Device time of each kernel of one call (mean over `calls` calls), from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    per_kernel: dict[str, list[float]] = {}
    for event in prof.events():
        if event.device_type.name == "CUDA":
            name = event.name.removeprefix("void ")
            for noise in ("grlm::cuda::device::", "grlm::cuda::", "grlm::", "(BatchArgs)"):
                name = name.replace(noise, "")
            per_kernel.setdefault(name[:70], []).append(event.device_time_total)
    print(f"# kernels of one call, {title} (µs per call: launches x mean = total)")
    for name, times in sorted(per_kernel.items(), key=lambda kv: -sum(kv[1])):
        print(
            f"#   {len(times) / calls:4.1f} x {sum(times) / len(times):7.2f} = "
            f"{sum(times) / calls:7.2f}  {name}"
        )


def bench_size(torch, scorer_cls, n, args, weights, w_half, copy_bw) -> list[dict]:
    """Rows of one catalog size: the kernel and the torch baseline for every Q."""
    items, tie_rank, vocab = make_catalog(torch, n, seed=n)
    items_np = items.cpu().numpy().view(np.uint32)
    tie_rank_np = tie_rank.cpu().numpy().view(np.uint32)
    scorer = scorer_cls.from_arrays(
        items_np, tie_rank=tie_rank_np, vocab_size=vocab, weights=weights
    )
    bag = None
    if args.bag:
        bag = scorer_cls.from_arrays(items_np, tie_rank=tie_rank_np, vocab_size=vocab, mode="bag")
    catalog_bytes = n * LENGTH * 4
    k = args.k
    stream = torch.cuda.current_stream().cuda_stream
    rows = []
    for q in args.queries:
        queries = make_queries(torch, items, q, seed=n + q)
        out_items = torch.empty((q, k), dtype=torch.int32, device="cuda")
        out_scores = torch.empty((q, k), dtype=torch.float64, device="cuda")
        counts = torch.empty((q,), dtype=torch.int32, device="cuda")

        def kernel(
            s=scorer,
            credits=(0, 0, 0),
            queries=queries,
            out_items=out_items,
            out_scores=out_scores,
            counts=counts,
        ):
            s._native.top_k_device(
                queries.shape[0],
                k,
                queries.data_ptr(),
                out_items.data_ptr(),
                out_scores.data_ptr(),
                counts.data_ptr(),
                stream,
                *credits,
            )

        def baseline(queries=queries):
            return torch_baseline(torch, items, queries, w_half, k)

        # Correctness before timing: a spread of queries against the exact reference.
        kernel()
        torch.cuda.synchronize()
        got_items, got_scores = out_items.cpu().numpy(), out_scores.cpu().numpy()
        for i in sorted({0, q - 1, *range(0, q, max(1, q // 8))}):
            want_items, want_scores = exact_reference(
                torch, items, tie_rank, queries[i], weights, k
            )
            c = len(want_items)
            if not (
                np.array_equal(got_items[i, :c], want_items)
                and np.array_equal(got_scores[i, :c], want_scores)
            ):
                sys.exit(
                    f"MISMATCH N={n} Q={q} query {i}: kernel {got_items[i, :c]} "
                    f"{got_scores[i, :c]} vs reference {want_items} {want_scores}"
                )
        base_s, _ = baseline()
        if abs(float(base_s[0, 0]) - float(got_scores[0, 0])) > 1e-2:
            sys.exit(f"torch baseline disagrees: {float(base_s[0, 0])} vs {got_scores[0, 0]}")

        t_kernel = measure_cuda(kernel, repeat=5, min_seconds=args.min_seconds)
        t_torch = measure_cuda(baseline, repeat=2, min_seconds=args.min_seconds)
        row = {
            "n": n,
            "q": q,
            "kernel_ms": t_kernel * 1e3,
            "per_query_us": t_kernel / q * 1e6,
            "torch_ms": t_torch * 1e3,
            "speedup": t_torch / t_kernel,
            "bandwidth": catalog_bytes / t_kernel,
            "one_pass_ms": catalog_bytes / copy_bw * 1e3,
        }
        if bag is not None:
            # Each query credits its own terms with the bag weights 1/(j+1) (exact matches).
            credit_offsets = torch.arange(
                0, (q + 1) * LENGTH, LENGTH, dtype=torch.int64, device="cuda"
            )
            credit_terms = queries.flatten().contiguous()
            credit_units = torch.tensor(
                [5 * 720720 // (j + 1) for j in range(LENGTH)] * q, dtype=torch.int32, device="cuda"
            )
            ptrs = (credit_offsets.data_ptr(), credit_terms.data_ptr(), credit_units.data_ptr())
            row["bag_ms"] = (
                measure_cuda(
                    lambda ptrs=ptrs: kernel(s=bag, credits=ptrs),
                    repeat=5,
                    min_seconds=args.min_seconds,
                )
                * 1e3
            )
        if args.profile:
            try:
                print_kernel_profile(torch, kernel, f"N={n:,} Q={q} positional")
            except Exception as error:  # noqa: BLE001 -- diagnostics only: never fail the benchmark
                print(f"# profile failed: {error!r}")
        rows.append(row)
        print(
            f"N={n:>11,} Q={q:>5}: kernel {row['kernel_ms']:.3f} ms, torch "
            f"{row['torch_ms']:.2f} ms",
            flush=True,
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--bag", action="store_true", help="also time bag mode (kernel only)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print each kernel's device time per call (torch.profiler)",
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=0.05,
        help="device seconds per timing sample (best of several samples)",
    )
    args = parser.parse_args(argv)

    import torch
    from grlm import _core
    from grlm.ground.cuda import CudaStructuralScorer

    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU visible")
    props = torch.cuda.get_device_properties(0)
    print(
        f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()} "
        f"({props.multi_processor_count} SMs), torch {torch.__version__}, k={args.k}, "
        f"L={LENGTH}, positional mode"
    )
    copy_bw = copy_bandwidth(torch)
    print(f"# device-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + write)")
    weights = _core.default_position_weights(LENGTH)
    w_half = torch.tensor(weights, dtype=torch.half, device="cuda")
    rows = []
    for n in args.sizes:
        rows += bench_size(torch, CudaStructuralScorer, n, args, weights, w_half, copy_bw)
        torch.cuda.empty_cache()

    print()
    header = (
        "| N | Q | kernel ms/batch | kernel µs/query | torch ms/batch | speed-up | "
        "achieved GB/s | copy GB/s | batch / one pass |"
    )
    if args.bag:
        header += " bag ms/batch |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['n']:,} | {r['q']} | {r['kernel_ms']:.3f} | {r['per_query_us']:.2f} | "
            f"{r['torch_ms']:.2f} | {r['speedup']:.1f}x | {r['bandwidth'] / 1e9:.0f} | "
            f"{copy_bw / 1e9:.0f} | {r['kernel_ms'] / r['one_pass_ms']:.1f}x |"
        )
        if args.bag:
            line += f" {r['bag_ms']:.3f} |"
        print(line)


if __name__ == "__main__":
    main()
