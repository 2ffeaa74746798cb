"""Popularity and SASRec on Beauty, Industrial and MovieLens-100k: full-ranking Recall@K / NDCG@K
and training time, as a markdown table (plus one JSON report per run).

Usage (from the repository root)::

    PYTHONPATH=python python bench/bench_baselines.py --out-dir /tmp/baselines \
        [--datasets beauty industrial ml-100k] [--models popularity sasrec] \
        [--time-budget 1380] [--lr 2e-3] [--threads 2]

Each SASRec run uses the package defaults (hidden 64, 2 blocks, max length 50, dropout 0.5,
cross-entropy over all items, early stop on validation NDCG@10 with patience 10) unless
overridden; MovieLens gets dropout 0.2, the usual setting for dense data. ``--time-budget``
bounds each SASRec training (the best epoch so far is kept); the report says whether a run
stopped early, by budget or at the epoch limit. Reports of earlier runs in ``--out-dir`` are
reused unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from grlm._io import atomic_write_text
from grlm.baselines import run_baseline
from grlm.data import load_dataset, make_split


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            )
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    import os

    return f"{cpu}, {os.cpu_count()} logical CPUs"


def table(reports: list[dict]) -> str:
    head = (
        "| dataset | model | R@5 | R@10 | N@5 | N@10 | MRR | train s | epochs (best) | stopped by |"
    )
    rows = [head, "| --- " * 10 + "|"]
    for r in reports:
        t = r["test"]
        epochs = f"{r.get('epochs_run', '-')} ({r.get('best_epoch', '-')})"
        rows.append(
            f"| {r['dataset']} | {r['model']} | {t['recall@5']:.4f} | "
            f"{t['recall@10']:.4f} | {t['ndcg@5']:.4f} | {t['ndcg@10']:.4f} | "
            f"{t['mrr']:.4f} | {r['train_seconds']:.0f} | {epochs} | "
            f"{r.get('stopped_by', '-')} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--datasets", nargs="+", default=["beauty", "industrial", "ml-100k"])
    parser.add_argument("--models", nargs="+", default=["popularity", "sasrec"])
    parser.add_argument("--time-budget", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="default: 0.2 for MovieLens (dense), 0.5 for the Amazon data",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--force", action="store_true", help="rerun even if a report exists")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    reports = []
    for name in args.datasets:
        dataset = load_dataset(name)
        split = make_split(dataset, "leave_one_out")
        for model in args.models:
            path = out / f"{dataset.name}_{model}.json"
            if path.exists() and not args.force:
                reports.append(json.loads(path.read_text()))
                continue
            config = None
            if model == "sasrec":
                import torch
                from grlm.baselines.sasrec import SASRecConfig

                if args.threads:
                    torch.set_num_threads(args.threads)
                dropout = args.dropout
                if dropout is None:
                    dropout = 0.2 if dataset.name.startswith("ml-") else 0.5
                config = SASRecConfig(
                    lr=args.lr,
                    dropout=dropout,
                    max_epochs=args.epochs,
                    time_budget_s=args.time_budget,
                    device=args.device,
                )
            report = run_baseline(
                model,
                dataset,
                split,
                ks=(1, 5, 10, 20),
                config=config,
                progress=sys.stderr.isatty(),
                also_other_setting=True,
            )
            report["machine"] = machine()
            report["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            atomic_write_text(path, json.dumps(report, indent=2) + "\n")
            reports.append(report)
            print(
                f"{dataset.name} {model}: R@10 {report['test']['recall@10']:.4f} "
                f"({report['train_seconds']:.0f}s)",
                flush=True,
            )
    text = table(reports)
    atomic_write_text(out / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
