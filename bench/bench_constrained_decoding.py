"""Constrained beam search: our decoder against Hugging Face ``generate``, in one run.

GPU: a random-weight Qwen3-0.6B-shaped model in bf16 (built from a Qwen3Config, no download);
catalogs of 12k / 1M / 10M items whose answers are 5 random tokens + EOS; B in {1, 16} prompts
of 256 random tokens; 20 beams. CPU: the same rows on a tiny Qwen3-shaped model (float32, one
thread), smaller catalogs and prompts.

Rows: HF free beam search, HF with ``prefix_allowed_tokens_fn`` (one trie walk per beam per
step), HF with our ``TrieLogitsProcessor``, our decoder free and constrained; the per-step cost
of the constrained step against an unconstrained log-softmax + top-k on the same logits; index
memory per item. Correctness first: on the CPU our results must equal HF's with the prefix
function (tokens and scores); on the GPU every hypothesis must be a catalog item, and agreement
with HF (bf16 numerics differ between the two attention paths) is printed.

    python bench/bench_constrained_decoding.py                  # full run (GPU if visible)
    python bench/bench_constrained_decoding.py --quick          # short run (bench/gpu_check)
    python bench/bench_constrained_decoding.py --device cpu --catalogs 12000 --batches 1,4
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, print_table


def build_model(device: str):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    if device == "cuda":
        config = Qwen3Config(
            vocab_size=151936,
            hidden_size=1024,
            intermediate_size=3072,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            tie_word_embeddings=True,
            rope_theta=1_000_000.0,
            max_position_embeddings=40960,
            rms_norm_eps=1e-6,
            eos_token_id=151645,
            pad_token_id=151643,
            bos_token_id=None,
        )
        with torch.device("cuda"):
            model = Qwen3ForCausalLM(config).to(torch.bfloat16)
        token_range = 151643  # ordinary tokens: below the special ones
    else:
        config = Qwen3Config(
            vocab_size=8192,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            initializer_range=0.5,
            eos_token_id=1,
            pad_token_id=0,
            bos_token_id=None,
        )
        model = Qwen3ForCausalLM(config)
        token_range = 8192
    return model.eval(), token_range


def hf_generate(
    model, ids, mask, *, num_beams, max_new_tokens, eos, pad, processor=None, prefix_fn=None
):
    import torch
    from grlm.decoding.hf import beam_hypotheses
    from transformers import GenerationConfig, LogitsProcessorList

    config = GenerationConfig(
        num_beams=num_beams,
        do_sample=False,
        length_penalty=1.0,
        early_stopping=False,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_beams,
        eos_token_id=eos,
        pad_token_id=pad,
        return_dict_in_generate=True,
        output_scores=True,
    )
    kwargs = {}
    if processor is not None:
        kwargs["logits_processor"] = LogitsProcessorList([processor])
    if prefix_fn is not None:
        kwargs["prefix_allowed_tokens_fn"] = prefix_fn
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **kwargs)
    return beam_hypotheses(out, num_beams, ids.shape[1], eos)


def timed(fn, device: str, repeat: int) -> float:
    """Median seconds of fn (after one warm-up call), synchronising the GPU."""
    import statistics

    import torch

    def call():
        fn()
        if device == "cuda":
            torch.cuda.synchronize()

    call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def step_costs(trie, logits, node, score, k, device, backend, repeat=20):
    """Microseconds per call: free log-softmax + top-k, and the constrained step (both
    normalisations), on the same logits."""
    import torch
    from grlm.decoding.constrained_step import constrained_topk, free_topk

    arrays = trie.arrays(device)
    out = {}
    for name, fn in (
        ("free log_softmax+topk", lambda: free_topk(logits, score, k)),
        (
            "constrained full",
            lambda: constrained_topk(logits, node, score, arrays, k, backend=backend),
        ),
        (
            "constrained allowed",
            lambda: constrained_topk(
                logits, node, score, arrays, k, normalization="allowed", backend=backend
            ),
        ),
    ):
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out[name] = (time.perf_counter() - start) / repeat * 1e6
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--catalogs", default=None, help="comma-separated item counts")
    parser.add_argument("--batches", default=None, help="comma-separated prompt counts")
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--prompt-len", type=int, default=None)
    parser.add_argument("--terms", type=int, default=5, help="answer tokens before EOS")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="12k and 1M items, 2 repeats")
    parser.add_argument(
        "--skip-hf-prefix-above",
        type=int,
        default=None,
        help="skip the slow HF prefix-function row for catalogs larger than this",
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch
    from grlm.decoding import TokenTrie
    from grlm.decoding.beam_search import BeamSearchDecoder
    from grlm.decoding.hf import TrieLogitsProcessor, prefix_allowed_tokens_fn
    from grlm.lm import left_pad

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = device == "cuda"
    if not gpu:
        torch.set_num_threads(1)  # a shared, loaded CPU: one thread gives stable timings
    default_catalogs = "12000,1000000,10000000" if gpu else "12000,1000000"
    if args.quick:
        default_catalogs = "12000,1000000" if gpu else "12000"
        args.repeat = min(args.repeat, 2)
    catalogs = [int(x) for x in (args.catalogs or default_catalogs).split(",")]
    batches = [int(x) for x in (args.batches or ("1,16" if gpu else "1,4")).split(",")]
    prompt_len = args.prompt_len or (256 if gpu else 32)
    nb = args.beams
    steps = args.terms + 1

    print(
        f"# constrained decoding benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} "
        f"UTC, {machine()}, torch {torch.__version__}"
    )
    t0 = time.perf_counter()
    model, token_range = build_model(device)
    eos, pad = model.config.eos_token_id, model.config.pad_token_id
    print(
        f"model: {'Qwen3-0.6B shape, bf16' if gpu else 'tiny Qwen3, float32'} "
        f"({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params), built in "
        f"{time.perf_counter() - t0:.1f}s; {nb} beams, prompts of {prompt_len} tokens, "
        f"answers of {args.terms} tokens + EOS"
    )
    rng = np.random.default_rng(0)
    low = 2
    results = {"machine": machine(), "device": device, "rows": []}
    rows, step_rows, memory_rows = [], [], []
    hf_free_cache = {}
    decoder_options = {}
    for n_items in catalogs:
        t0 = time.perf_counter()
        matrix = np.empty((n_items, steps), dtype=np.int32)
        matrix[:, :-1] = rng.integers(low, token_range, size=(n_items, args.terms))
        matrix[:, -1] = eos
        trie = TokenTrie.from_token_matrix(matrix, eos)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        arrays = trie.arrays(device)
        export_s = time.perf_counter() - t0
        device_bytes = sum(
            t.numel() * t.element_size()
            for t in (arrays.row_ptr, arrays.child_token, arrays.child_node, arrays.live)
        )
        memory_rows.append(
            [
                f"{n_items:,}",
                f"{trie.num_nodes:,}",
                f"{build_s:.2f}",
                f"{export_s:.2f}",
                f"{trie.memory_bytes() / n_items:.1f}",
                f"{device_bytes / n_items:.1f}",
            ]
        )
        del matrix
        for batch in batches:
            prompts = rng.integers(low, token_range, size=(batch, prompt_len)).tolist()
            ids, mask = left_pad(prompts, pad, device=device)
            decoder = BeamSearchDecoder(model, trie, num_beams=nb, **decoder_options)
            free_decoder = BeamSearchDecoder(
                model,
                trie,
                num_beams=nb,  # its own graph
                **decoder_options,
            )
            # Correctness before timing.
            try:
                ours = decoder.search(prompts)
            except Exception:  # keep the run useful: report, then measure the plain path
                if not gpu or decoder_options:
                    raise
                traceback.print_exc()
                print("!! fused/graph path failed: falling back to backend='torch', no CUDA graph")
                decoder_options = {"backend": "torch", "cuda_graph": False}
                decoder = BeamSearchDecoder(model, trie, num_beams=nb, **decoder_options)
                free_decoder = BeamSearchDecoder(model, trie, num_beams=nb, **decoder_options)
                ours = decoder.search(prompts)
            print(
                f"decoder: backend={decoder.backend}, CUDA graph={decoder.cuda_graph}, "
                f"runner={type(decoder.runner).__name__}"
            )
            invalid = sum(1 for hyps in ours for h in hyps if not h.items)
            assert invalid == 0, f"{invalid} hypotheses are not catalog items"
            assert all(len(h) == nb for h in ours), "fewer hypotheses than beams"
            run_prefix = args.skip_hf_prefix_above is None or n_items <= args.skip_hf_prefix_above
            hf = hf_generate(
                model,
                ids,
                mask,
                num_beams=nb,
                max_new_tokens=steps,
                eos=eos,
                pad=pad,
                processor=TrieLogitsProcessor(trie, ids.shape[1]),
            )
            ours_pairs = [[(tuple(h.tokens), h.score) for h in hyps] for hyps in ours]
            top1 = np.mean([a[0][0] == b[0][0] for a, b in zip(ours_pairs, hf)])
            overlap = np.mean(
                [len({t for t, _ in a} & {t for t, _ in b}) / nb for a, b in zip(ours_pairs, hf)]
            )
            if not gpu:
                for a, b in zip(ours_pairs, hf):
                    assert [t for t, _ in a] == [t for t, _ in b], "ours != HF"
                    assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-4)
            # What the experimental `allowed` normalisation changes against `full`.
            allowed = BeamSearchDecoder(
                model, trie, num_beams=nb, normalization="allowed", **decoder_options
            ).search(prompts)
            allowed_top1 = np.mean([a[0].items == b[0].items for a, b in zip(allowed, ours)])
            allowed_overlap = np.mean(
                [
                    len({h.tokens for h in a} & {h.tokens for h in b}) / nb
                    for a, b in zip(allowed, ours)
                ]
            )
            print(
                f"check N={n_items:,} B={batch}: all {batch * nb} hypotheses valid; vs HF "
                f"top-1 agreement {top1:.2f}, top-{nb} overlap {overlap:.2f}; normalization "
                f"'allowed' vs 'full': top-1 {allowed_top1:.2f}, top-{nb} overlap "
                f"{allowed_overlap:.2f}"
            )
            # Timings.
            generate = functools.partial(
                hf_generate, model, ids, mask, num_beams=nb, max_new_tokens=steps, eos=eos, pad=pad
            )
            width = ids.shape[1]
            if batch not in hf_free_cache:
                hf_free_cache[batch] = timed(generate, device, args.repeat)
            hf_free = hf_free_cache[batch]
            hf_prefix = (
                timed(
                    functools.partial(generate, prefix_fn=prefix_allowed_tokens_fn(trie, width)),
                    device,
                    args.repeat,
                )
                if run_prefix
                else float("nan")
            )
            hf_processor = timed(
                functools.partial(generate, processor=TrieLogitsProcessor(trie, width)),
                device,
                args.repeat,
            )
            ours_free = timed(
                functools.partial(
                    free_decoder.search, prompts, constrained=False, max_new_tokens=steps
                ),
                device,
                args.repeat,
            )
            ours_constrained = timed(
                functools.partial(decoder.search, prompts), device, args.repeat
            )
            rows.append(
                [
                    f"{n_items:,}",
                    batch,
                    f"{hf_free * 1e3:.1f}",
                    f"{hf_prefix * 1e3:.1f}",
                    f"{hf_processor * 1e3:.1f}",
                    f"{ours_free * 1e3:.1f}",
                    f"{ours_constrained * 1e3:.1f}",
                    f"{hf_prefix / ours_constrained:.1f}x",
                    f"{(ours_constrained - ours_free) / steps * 1e6:.0f}",
                ]
            )
            results["rows"].append(
                {
                    "items": n_items,
                    "batch": batch,
                    "hf_free_s": hf_free,
                    "hf_prefix_s": hf_prefix,
                    "hf_processor_s": hf_processor,
                    "ours_free_s": ours_free,
                    "ours_constrained_s": ours_constrained,
                    "top1": top1,
                    "overlap": overlap,
                    "allowed_top1": allowed_top1,
                    "allowed_overlap": allowed_overlap,
                }
            )
            # The constrained step alone, on logits of the real vocabulary at depth-2 nodes.
            r = batch * nb
            logits = torch.randn(
                r, model.config.vocab_size, device=device, dtype=next(model.parameters()).dtype
            )
            picks = rng.integers(0, n_items, size=r)
            node = torch.tensor(
                [trie.walk(trie.sequence(int(i))[:2]) for i in picks], device=device
            )
            score = torch.zeros(r, device=device)
            costs = step_costs(trie, logits, node, score, 2 * nb, device, decoder.backend)
            step_rows.append(
                [
                    f"{n_items:,}",
                    batch,
                    *(f"{v:.1f}" for v in costs.values()),
                    f"{costs['constrained full'] - costs['free log_softmax+topk']:.1f}",
                ]
            )
            results["rows"][-1]["step_us"] = costs

    print_table(
        "Beam search wall time per call (ms); last column: (ours constrained - ours free)"
        " / steps in us",
        [
            "items",
            "B",
            "HF free",
            "HF prefix fn",
            "HF + our processor",
            "ours free",
            "ours constrained",
            "HF prefix / ours",
            "constraint us/step",
        ],
        rows,
    )
    print_table(
        "One step over (B x beams) rows of full-vocabulary logits (us per call)",
        [
            "items",
            "B",
            "free log_softmax+topk",
            "constrained full",
            "constrained allowed",
            "constrained - free",
        ],
        step_rows,
    )
    print_table(
        "Index",
        [
            "items",
            "trie nodes",
            "build s",
            "export+copy s",
            "C++ bytes/item",
            f"{device} arrays bytes/item",
        ],
        memory_rows,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
