"""Fine-tuning throughput of each lean lever alone and combined, beside today's CPU path, on the
same Amazon Beauty windows (the authors' Term IDs, from ../shared), in one run.

Every row trains SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantized) on the same batches of
packed windows (each user's most recent one, a fixed random sample) with AdamW, forward +
backward + step, and reports the median over the timed steps of:
- tokens/s: every token the model reads (prompt and answers);
- targets/s: answer lines taught (items the model learns to predict), the number that matters
  when the prompt shrinks.
The levers (``grlm.train``): ``keep`` (model.keep_layers), ``short`` (sft.prompt: short),
``plain`` (sft.lines: plain), ``positions`` (train.loss_positions_only), ``catalog`` / ``trie``
(train.loss), ``fused`` (the trainer's fused AdamW; earlier rows use the per-tensor loop, as
today's path did) and ``bf16`` (train.precision: bf16, autocast; fast on CPUs with AVX-512 BF16
or AMX).

    python bench/bench_lean_training.py                     # 2 threads, every row
    python bench/bench_lean_training.py --threads 1 --steps 2
    python bench/bench_lean_training.py --parallel          # + torchrun 2 processes vs 2 threads
    python bench/bench_lean_training.py --rows 8,9,10       # those rows beside today's path
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, print_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BEAUTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty"


@dataclass(frozen=True)
class Lever:
    name: str
    keep_layers: int | None = None  # None: all 30 layers, LoRA r32 (today's CPU path)
    prompt: str = "chat"
    lines: str = "bracketed"
    loss: str = "token"
    positions_only: bool = False
    fused: bool = False  # fused AdamW
    bf16: bool = False  # bf16 autocast


_FOUR_SHORT = {"keep_layers": 4, "prompt": "short"}
# configs/beauty_cpu.yaml's levers: the row the two-core comparison trains.
CPU_DEFAULT = Lever(
    "4 layers + short + plain lines + catalog + fused + bf16 (beauty_cpu.yaml)",
    **_FOUR_SHORT,
    lines="plain",
    loss="catalog",
    fused=True,
    bf16=True,
)
ROWS = [
    Lever("today: 30 layers, LoRA r32, chat prompt, token loss"),
    Lever("short prompt", prompt="short"),
    Lever("logits at loss positions", positions_only=True),
    Lever("catalog loss", loss="catalog"),
    Lever("trie loss", loss="trie"),
    Lever("first 4 layers, full fine-tuning", keep_layers=4),
    Lever("4 layers + short + positions", keep_layers=4, prompt="short", positions_only=True),
    Lever("4 layers + short + catalog", keep_layers=4, prompt="short", loss="catalog"),
    Lever("4 layers + short + trie", keep_layers=4, prompt="short", loss="trie"),
    Lever("4 layers + short + catalog + fused", **_FOUR_SHORT, loss="catalog", fused=True),
    Lever(
        "4 layers + short + catalog + fused + bf16",
        **_FOUR_SHORT,
        loss="catalog",
        fused=True,
        bf16=True,
    ),
    Lever(
        "4 layers + short + trie + fused + bf16", **_FOUR_SHORT, loss="trie", fused=True, bf16=True
    ),
    Lever("2 layers + short + trie", keep_layers=2, prompt="short", loss="trie"),
    CPU_DEFAULT,
    Lever(
        "6 layers + short + plain lines + catalog + fused + bf16",
        keep_layers=6,
        prompt="short",
        lines="plain",
        loss="catalog",
        fused=True,
        bf16=True,
    ),
]


def _windows(count: int, seed: int):
    from grlm.data import leave_one_out, load_dataset
    from grlm.term_ids import load_term_ids
    from grlm.train.packed import packed_train_examples
    from grlm.train.sft import keep_recent

    split = leave_one_out(load_dataset("beauty"), max_history=20)
    term_ids = load_term_ids(BEAUTY / "item_id2tid.json")
    windows = keep_recent(packed_train_examples(split, term_ids, max_history=20), 1)
    return random.Random(seed).sample(windows, count), term_ids


_BASE = []  # SmolLM2 as loaded (the GGUF takes ~17 s to dequantize): each row takes a copy


def _setup(lever: Lever, tokenizer, term_ids, threads: int):
    """(model, loss head, optimizer, objective) of one row, on a fresh copy of the model."""
    import copy

    import torch
    from grlm.lm import load_model
    from grlm.objective import Objective
    from grlm.train.lean import keep_first_layers
    from grlm.train.losses import LossHead
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if not _BASE:
        _BASE.append(load_model("smollm2"))
    model = copy.deepcopy(_BASE[0])
    if lever.keep_layers:
        keep_first_layers(model, lever.keep_layers)
    else:
        lora = LoraConfig(r=32, lora_alpha=64, target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    model.train()
    objective = Objective("packed", lever.prompt, lever.lines)
    head = LossHead.for_catalog(
        lever.loss, objective, tokenizer, term_ids, positions_only=lever.positions_only
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=lever.fused)
    return model, head, optimizer, objective


def _batches(windows, tokenizer, objective, batch_size: int):
    from grlm.train.encode import encode_examples

    encoded, _ = encode_examples(tokenizer, windows, max_length=1024, objective=objective)
    encoded.sort(key=lambda e: len(e.input_ids))  # length-grouped, as the trainer batches
    return [encoded[i : i + batch_size] for i in range(0, len(encoded), batch_size)]


def _step(model, head, optimizer, examples, pad_id: int, bf16: bool) -> None:
    import torch
    from grlm.train.batches import batch_tensors

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = head.loss(model, batch_tensors(examples, pad_id, head))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def measure_lever(lever, windows, tokenizer, term_ids, *, steps, batch_size, threads) -> dict:
    model, head, optimizer, objective = _setup(lever, tokenizer, term_ids, threads)
    batches = _batches(windows, tokenizer, objective, batch_size)
    pad, end = tokenizer.pad_token_id, objective.end_token(tokenizer)
    _step(model, head, optimizer, batches[0], pad, lever.bf16)  # warm-up
    rates, targets = [], []
    for examples in batches[1 : steps + 1]:
        started = time.perf_counter()
        _step(model, head, optimizer, examples, pad, lever.bf16)
        seconds = time.perf_counter() - started
        rates.append(sum(len(e.input_ids) for e in examples) / seconds)
        targets.append(sum(e.labels.count(end) for e in examples) / seconds)
    return {"tokens/s": statistics.median(rates), "targets/s": statistics.median(targets)}


def _ddp_worker(args) -> None:
    """One process of the data-parallel row (under torchrun): each process takes its half of
    every batch, gradients averaged over gloo; process 0 prints the summed tokens/s."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    windows, term_ids = _windows(args.windows, args.seed)
    from grlm.lm import load_tokenizer

    tokenizer = load_tokenizer("smollm2")
    lever = CPU_DEFAULT
    model, head, optimizer, objective = _setup(lever, tokenizer, term_ids, 1)
    model = torch.nn.parallel.DistributedDataParallel(model)
    batches = _batches(windows, tokenizer, objective, args.batch_size)
    rates = []
    for i, examples in enumerate(batches[: args.steps + 1]):
        mine = examples[rank::world]
        dist.barrier()
        started = time.perf_counter()
        _step(model, head, optimizer, mine, tokenizer.pad_token_id, lever.bf16)
        dist.barrier()
        if i:  # the first step warms up
            rates.append(sum(len(e.input_ids) for e in examples) / (time.perf_counter() - started))
    if rank == 0:
        print(f"DDP_TOKENS_PER_S {statistics.median(rates):.1f}", flush=True)
    dist.destroy_process_group()


def _ddp_rate(args) -> float:
    command = [
        str(Path(sys.executable).with_name("torchrun")),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29531",
        __file__,
        "--ddp-worker",
        "--steps",
        str(args.steps),
        "--windows",
        str(args.windows),
        "--batch-size",
        str(args.batch_size),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return float(next(line for line in out.splitlines() if "DDP_TOKENS_PER_S" in line).split()[1])


def _chosen_rows(spec: str | None) -> list[Lever]:
    if not spec:
        return ROWS
    try:
        numbers = sorted({0, *(int(n) for n in spec.split(","))})
    except ValueError:
        raise SystemExit(f"--rows: expected comma-separated row numbers, got {spec!r}") from None
    if numbers[-1] >= len(ROWS) or numbers[0] < 0:
        raise SystemExit(f"--rows: row numbers go from 0 to {len(ROWS) - 1}, got {spec!r}")
    return [ROWS[n] for n in numbers]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parallel", action="store_true", help="also torchrun 2 x 1 thread")
    parser.add_argument(
        "--rows",
        help="comma-separated row numbers (0 = today's path, always measured as the baseline)",
    )
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ddp_worker:
        _ddp_worker(args)
        return 0
    if not BEAUTY.is_dir():
        print(f"{BEAUTY} is absent: nothing to measure")
        return 1
    from grlm.lm import load_tokenizer

    tokenizer = load_tokenizer("smollm2")
    windows, term_ids = _windows(args.windows, args.seed)
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}, "
        f"{args.threads} thread(s), load {os.getloadavg()[0]:.1f}; Beauty, {args.windows} "
        f"windows, batches of {args.batch_size}, median of {args.steps} steps",
        flush=True,
    )
    results = []
    rows = _chosen_rows(args.rows)
    for lever in rows:
        results.append(
            measure_lever(
                lever,
                windows,
                tokenizer,
                term_ids,
                steps=args.steps,
                batch_size=args.batch_size,
                threads=args.threads,
            )
        )
        print(f"  {lever.name}: {results[-1]['tokens/s']:.0f} tokens/s", flush=True)
    base = results[0]
    rows = [
        [
            lever.name,
            f"{r['tokens/s']:.0f}",
            f"{r['tokens/s'] / base['tokens/s']:.1f}x",
            f"{r['targets/s']:.1f}",
            f"{r['targets/s'] / base['targets/s']:.1f}x",
        ]
        for lever, r in zip(rows, results)
    ]
    print_table(
        "Fine-tuning throughput (forward + backward + AdamW step)",
        ["levers", "tokens/s", "vs today", "targets/s", "vs today"],
        rows,
    )
    if args.parallel:
        threads2 = measure_lever(
            CPU_DEFAULT,
            windows,
            tokenizer,
            term_ids,
            steps=args.steps,
            batch_size=args.batch_size,
            threads=2,
        )["tokens/s"]
        ddp = _ddp_rate(args)
        print_table(
            f"Two cores: {CPU_DEFAULT.name}",
            ["how", "tokens/s", "ratio"],
            [
                ["1 process, 2 threads", f"{threads2:.0f}", "1.00x"],
                ["torchrun, 2 processes x 1 thread (gloo)", f"{ddp:.0f}", f"{ddp / threads2:.2f}x"],
            ],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
