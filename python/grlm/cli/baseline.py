"""``grlm baseline {popularity,sasrec} --dataset DIR_OR_NAME``: train and evaluate a classical
baseline with full ranking on the dataset's split, print the metrics and save them as JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=("popularity", "sasrec"))
    parser.add_argument(
        "--dataset",
        required=True,
        help="dataset folder/file, or a name: beauty, industrial, ml-100k",
    )
    parser.add_argument(
        "--split", default="leave_one_out", choices=("leave_one_out", "chronological", "minionerec")
    )
    parser.add_argument(
        "--max-history",
        type=int,
        default=20,
        help="items of history kept for validation/test examples (default 20)",
    )
    parser.add_argument(
        "--exclude-history",
        action="store_true",
        help="remove each user's history items from the ranking (off by default)",
    )
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--out", help="write the metrics JSON here (temp file + rename)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    sas = parser.add_argument_group("sasrec")
    sas.add_argument("--hidden", type=int, default=64)
    sas.add_argument("--blocks", type=int, default=2)
    sas.add_argument("--heads", type=int, default=1)
    sas.add_argument("--max-len", type=int, default=50)
    sas.add_argument("--dropout", type=float, default=0.5)
    sas.add_argument("--lr", type=float, default=1e-3)
    sas.add_argument("--weight-decay", type=float, default=0.0)
    sas.add_argument("--batch-size", type=int, default=128)
    sas.add_argument("--epochs", type=int, default=200, help="maximum epochs")
    sas.add_argument(
        "--patience",
        type=int,
        default=10,
        help="stop after this many evaluations without validation gain",
    )
    sas.add_argument("--eval-every", type=int, default=1)
    sas.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="stop training after this many seconds (best epoch so far is kept)",
    )
    sas.add_argument("--valid-metric", default="ndcg@10")
    sas.add_argument("--seed", type=int, default=42)
    sas.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:0, ...")
    sas.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    sas.add_argument("--log", help="append one JSON line per epoch to this file")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "baseline",
        help="train and evaluate a classical baseline",
        description=__doc__.splitlines()[0],
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from grlm._io import atomic_write_text
    from grlm.baselines import run_baseline
    from grlm.data import load_dataset, make_split

    dataset = load_dataset(args.dataset)
    split = make_split(dataset, args.split, max_history=args.max_history)
    config = None
    device = "cpu"
    if args.model == "sasrec":
        import torch

        from grlm.baselines.sasrec import SASRecConfig, resolve_device

        if args.threads:
            torch.set_num_threads(args.threads)
        config = SASRecConfig(
            hidden=args.hidden,
            num_blocks=args.blocks,
            num_heads=args.heads,
            max_len=args.max_len,
            dropout=args.dropout,
            lr=args.lr,
            weight_decay=args.weight_decay,
            batch_size=args.batch_size,
            max_epochs=args.epochs,
            patience=args.patience,
            eval_every=args.eval_every,
            time_budget_s=args.time_budget,
            seed=args.seed,
            device=args.device,
            valid_metric=args.valid_metric,
        )
        device = str(resolve_device(args.device))
        if device.startswith("cuda"):
            device += f" ({torch.cuda.get_device_name(torch.device(device))})"
    with contextlib.ExitStack() as stack:
        log = None
        if args.log:
            log_file = stack.enter_context(open(args.log, "a", encoding="utf-8"))

            def log(record: dict) -> None:
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()

        report = run_baseline(
            args.model,
            dataset,
            split,
            ks=args.ks,
            exclude_history=args.exclude_history,
            config=config,
            progress=not args.no_progress,
            log=log,
        )
    from grlm._machine import describe_machine

    report["dataset_summary"] = dataset.summary()
    report["machine"] = {"cpu": describe_machine(), "device": device}
    report["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report["command"] = shlex.join(sys.argv)
    keys = [f"{m}@{k}" for k in args.ks for m in ("recall", "ndcg")] + ["mrr"]
    print(
        f"{args.model} on {dataset.name} ({split.protocol}, "
        f"exclude_history={args.exclude_history}), train {report['train_seconds']:.1f}s"
    )
    for part in ("valid", "test"):
        print(f"  {part:5s} " + "  ".join(f"{k}={report[part][k]:.4f}" for k in keys))
    if args.out:
        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
        print(f"  wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs this command alone (``python -m grlm.cli.baseline ...``)."""
    parser = argparse.ArgumentParser(prog="grlm baseline", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
