"""report.json, report.md and PNG plots of a run."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from grlm._io import atomic_write_json, atomic_write_text, read_jsonl
from grlm._machine import describe_machine
from grlm.eval.ranking import DEFAULT_KS

TABLE_METRICS = (
    "recall@1",
    "recall@5",
    "recall@10",
    "recall@20",
    "ndcg@5",
    "ndcg@10",
    "ndcg@20",
    "mrr",
)
PAIRED_METRICS = ("recall@5", "recall@10", "recall@20", "ndcg@10")


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


def _plots(
    out: Path, rows: dict[str, dict[str, dict]], hit_counts: dict, train: dict | None
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(name)

    for split, models in rows.items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name, values in models.items():
            ks = [k for k in DEFAULT_KS if f"recall@{k}" in values]
            ax.plot(ks, [values[f"recall@{k}"] for k in ks], marker="o", label=name)
        ax.set_xlabel("K")
        ax.set_ylabel("Recall@K")
        ax.set_title(f"Recall@K ({split})")
        ax.legend()
        save(fig, f"recall_at_k_{split}.png")
    if hit_counts:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        names = list(hit_counts)
        kinds = ("direct", "structural", "none")
        bottom = [0.0] * len(names)
        for kind in kinds:
            values = [
                hit_counts[n].get(kind, 0) / max(sum(hit_counts[n].values()), 1) for n in names
            ]
            ax.bar(names, values, bottom=bottom, label=kind)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylabel("share of beams")
        ax.set_title("Grounding hit types")
        ax.legend()
        save(fig, "grounding_hits.png")
    if train and train.get("train_loss"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        steps, losses = zip(*train["train_loss"])
        ax.plot(steps, losses, label="train loss")
        if train.get("valid_loss"):
            vs, vl = zip(*train["valid_loss"])
            ax.plot(vs, vl, marker="o", label="validation loss")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("answer-token loss")
        curve = [
            (step, values["recall@10"])
            for step, values in train.get("valid_metrics", [])
            if "recall@10" in values
        ]
        if curve:
            right = ax.twinx()
            right.plot(*zip(*curve), marker="s", color="tab:green", label="validation R@10")
            right.set_ylabel("validation Recall@10")
            right.legend(loc="upper center")
        ax.legend(loc="upper right")
        save(fig, "train_loss.png")
    return written


def _grlm_label(config, decoding: str) -> str:
    return f"GRLM ({decoding})" if len(config.recommend.decoding) > 1 else "GRLM"


def _ranks_of_rows(rows: list[dict]) -> dict[str, float]:
    from grlm.eval import rank_in_list

    return {row["user_id"]: rank_in_list(row["items"], row["target"]) for row in rows}


def _baseline_ranks(part: dict) -> dict[str, float]:
    return {user: (math.inf if rank is None else rank) for user, rank in part["ranks"].items()}


def _statistics(ranks: dict[str, dict[str, float]], baselines: Sequence[str]) -> tuple:
    """Bootstrap intervals of every model's metrics and paired differences of every GRLM row
    against every baseline, on the same users."""
    from grlm.eval.bootstrap import intervals_from_ranks, paired_from_ranks

    intervals = {
        name: intervals_from_ranks(list(r.values()), TABLE_METRICS) for name, r in ranks.items()
    }
    paired = {}
    for name, r in ranks.items():
        if name in baselines:
            continue
        for baseline in baselines:
            if baseline in ranks:
                paired[f"{name} - {baseline}"] = paired_from_ranks(
                    r, ranks[baseline], PAIRED_METRICS
                )
    return intervals, paired


def _grlm_rows(config, out: Path) -> dict:
    """GRLM's recommend outputs: metrics per split and decoding, table rows, per-user ranks,
    beam hit counts and one example user (a test user with a hit in the top 10 if any)."""
    rows_of: dict = {"model": {}, "table": {}, "ranks": {}, "hit_counts": {}, "example": None}
    for name in config.recommend.splits:
        for decoding in config.recommend.decoding:
            metrics = _load(out / "recommend" / f"{name}-{decoding}_metrics.json")
            if metrics is None:
                continue
            rows_of["model"].setdefault(name, {})[decoding] = metrics
            label = _grlm_label(config, decoding)
            rows_of["table"].setdefault(name, {})[label] = metrics
            path = out / "recommend" / f"{name}-{decoding}.jsonl"
            rows = [row for _, row in read_jsonl(path)]
            rows_of["ranks"].setdefault(name, {})[label] = _ranks_of_rows(rows)
            counts: dict[str, int] = {}
            for row in rows:
                for hit in row["beam_hits"]:
                    counts[hit] = counts.get(hit, 0) + 1
            rows_of["hit_counts"][f"{name} {decoding}"] = counts
            if (
                rows
                and (rows_of["example"] is None or name == "test")
                and decoding == (config.recommend.decoding[0])
            ):
                hit = next((r for r in rows if r["target"] in r["items"][:10]), rows[0])
                rows_of["example"] = {"split": name, **hit}
    return rows_of


def _baseline_rows(config, out: Path, table: dict, ranks: dict) -> dict:
    """The baselines' metrics per split (added to ``table`` and, with ranks, to ``ranks``)."""
    baselines = {}
    for name in config.baselines:
        result = _load(out / "baselines" / f"{name}.json")
        if result is None:
            continue
        baselines[name] = {}
        for part in ("valid", "test"):
            if part not in result:
                continue
            baselines[name][part] = {k: v for k, v in result[part].items() if k != "ranks"}
            if part in table:
                table[part][name] = baselines[name][part]
                if "ranks" in result[part]:
                    ranks[part][name] = _baseline_ranks(result[part])
    return baselines


def _describe_example_user(user: dict, dataset, term_ids, eval_split) -> None:
    """Adds the example user's history and top 10 with titles and Term IDs."""
    history = next(
        (e.history for e in getattr(eval_split, user["split"]) if e.user_id == user["user_id"]), ()
    )
    user["history"] = [
        {"item_id": i, "title": dataset.items[i].title, "terms": list(term_ids[i])} for i in history
    ]
    user["recommended"] = [
        {"item_id": i, "title": dataset.items[i].title, "terms": list(term_ids[i]), "hit": h}
        for i, h in zip(user["items"][:10], user["item_hits"][:10])
    ]


def build_report(pipeline) -> dict:
    """Collects every stage's outputs into ``report.json`` and ``report.md`` and draws the
    plots; returns the report."""
    config = pipeline.config
    out = pipeline.out
    dataset, split, eval_split = pipeline.data()
    term_ids = pipeline.term_ids()
    distinct = len(set(term_ids.values()))
    grlm = _grlm_rows(config, out)
    table, ranks, example_user = grlm["table"], grlm["ranks"], grlm["example"]
    baselines = _baseline_rows(config, out, table, ranks)
    statistics = {
        part: dict(zip(("intervals", "paired"), _statistics(r, list(baselines))))
        for part, r in ranks.items()
    }
    train = _load(out / "train" / "train_result.json")
    sft = _load(out / "sft" / "summary.json")
    if example_user is not None:
        _describe_example_user(example_user, dataset, term_ids, eval_split)
    sample_items = sorted(dataset.items)[:5]
    report = {
        "name": config.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": describe_machine(),
        "dataset": {
            "name": dataset.name,
            "users": dataset.num_users,
            "items": dataset.num_items,
            "interactions": dataset.num_interactions,
            "split": split.summary(),
            "eval_users": len(eval_split.test),
        },
        "terms": {
            "source": config.terms.source,
            "items": len(term_ids),
            "distinct_term_ids": distinct,
            "items_sharing_a_term_id": len(term_ids) - distinct,
            "examples": {i: list(term_ids[i]) for i in sample_items},
        },
        "sft": sft,
        "train": train,
        "model": grlm["model"],
        "baselines": baselines,
        "table": table,
        "statistics": statistics,
        "beam_hit_counts": grlm["hit_counts"],
        "example_user": example_user,
        "stage_seconds": pipeline.timings,
        "skipped_stages": pipeline.skipped,
    }
    report["plots"] = _plots(out, table, grlm["hit_counts"], train)
    atomic_write_json(out / "report.json", report, default=str)
    atomic_write_text(out / "report.md", markdown(report))
    return report


def interval_table(rows: dict[str, dict], intervals: dict[str, dict], metrics=TABLE_METRICS) -> str:
    """A markdown table, one row per model: every metric with its 95% interval."""
    lines = ["| model | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, values in rows.items():
        cells = []
        for m in metrics:
            ci = intervals.get(name, {}).get(m)
            cell = _fmt(values.get(m))
            cells.append(f"{cell} [{ci['low']:.4f}, {ci['high']:.4f}]" if ci else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(paired: dict[str, dict], metrics=PAIRED_METRICS) -> str:
    """A markdown table of paired differences (mean [95% interval]); * marks an interval that
    excludes 0."""
    lines = ["| difference | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, values in paired.items():
        cells = []
        for m in metrics:
            d = values[m]
            star = "*" if d["low"] > 0 or d["high"] < 0 else ""
            cells.append(f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]{star}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    lines = [f"# grlm run: {report['name']}", "", f"{report['created']}, {report['machine']}", ""]
    d = report["dataset"]
    lines += [
        (
            f"Dataset {d['name']}: {d['users']} users, {d['items']} items, "
            f"{d['interactions']} interactions; evaluated on {d['eval_users']} users."
        ),
        "",
    ]
    t = report["terms"]
    lines += [
        (
            f"Term IDs ({t['source']}): {t['items']} items, {t['distinct_term_ids']} "
            f"distinct, {t['items_sharing_a_term_id']} items share a Term ID."
        ),
        "",
    ]
    for split, rows in report["table"].items():
        stats = report["statistics"].get(split, {})
        lines += [
            f"## {split}",
            "",
            "Metrics with 95% bootstrap intervals (users resampled):",
            "",
            interval_table(rows, stats.get("intervals", {})),
            "",
        ]
        if stats.get("paired"):
            note = "Paired bootstrap differences on the same users (*: the interval excludes 0):"
            lines += [note, "", paired_table(stats["paired"]), ""]
        for decoding, m in report["model"].get(split, {}).items():
            vr = sorted((k for k in m if k.startswith("vr@")), key=lambda k: int(k[3:]))
            lines += [
                f"Grounding ({decoding}): "
                + ", ".join(
                    f"{k} {m[k]:.3f}, {k.replace('vr', 'dhr')} {m[k.replace('vr', 'dhr')]:.3f}"
                    for k in vr
                )
                + f"; {m['grounding_ms_per_term_id']:.3f} ms per Term ID, "
                f"generation {m['generation_s_per_user']:.3f} s per user.",
                "",
            ]
    if report.get("train"):
        tr = report["train"]
        lines += [
            (
                f"Fine-tuning: {tr['steps']} steps, {tr['examples_seen']} examples, "
                f"{tr['tokens_seen']} tokens, {tr['tokens_per_second']:.0f} tokens/s, "
                f"{tr['seconds']:.0f} s."
            ),
            "",
        ]
        curve = learning_curve(tr)
        if curve:
            lines += ["Learning curve (validation):", "", curve, ""]
    lines += ["## Term IDs of a few items", ""]
    lines += [f"- {i}: {json.dumps(v)}" for i, v in t["examples"].items()] + [""]
    user = report.get("example_user")
    if user:
        lines += [f"## User {user['user_id']} ({user['split']})", "", "History:"]
        lines += [f"- {h['title'] or h['item_id']} {h['terms']}" for h in user["history"]]
        lines += ["", f"Target: {user['target']}", "", "Top 10:"]
        lines += [
            f"{n}. {r['title'] or r['item_id']} {r['terms']} ({r['hit']})"
            + ("  <- target" if r["item_id"] == user["target"] else "")
            for n, r in enumerate(user["recommended"], 1)
        ]
        lines.append("")
    lines += [
        "Stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["stage_seconds"].items()),
        "",
    ]
    lines += [f"![{p}]({p})" for p in report["plots"]]
    return "\n".join(lines) + "\n"


def learning_curve(train: dict) -> str:
    """A markdown table: validation loss and validation metrics against the optimizer step."""
    losses = dict(train.get("valid_loss") or [])
    metrics = dict(train.get("valid_metrics") or [])
    steps = sorted(set(losses) | set(metrics))
    if not steps:
        return ""
    names = sorted({k for values in metrics.values() for k in values})
    lines = [
        "| step | validation loss | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for step in steps:
        loss = f"{losses[step]:.4f}" if step in losses else ""
        values = metrics.get(step, {})
        lines.append(
            f"| {step} | {loss} | " + " | ".join(_fmt(values.get(n)) for n in names) + " |"
        )
    return "\n".join(lines)
