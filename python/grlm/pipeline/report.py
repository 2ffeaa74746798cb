"""report.json, report.md and PNG plots of a run."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from grlm.pipeline.stages import read_jsonl, write_json

KS = (1, 5, 10, 20)
TABLE_METRICS = ("recall@1", "recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10",
                 "ndcg@20", "mrr")


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _machine() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu} ({os.cpu_count()} cores)"


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


def metrics_table(results: dict[str, dict], metrics=TABLE_METRICS) -> str:
    """A markdown table, one row per model, one column per metric."""
    lines = ["| model | " + " | ".join(metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for name, values in results.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(values.get(m)) for m in metrics) + " |")
    return "\n".join(lines)


def _plots(out: Path, model: dict, baselines: dict, hit_counts: dict, train: dict | None
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

    for split, results in model.items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        series = {"GRLM": results, **{k: v.get(split, {}) for k, v in baselines.items()}}
        for name, values in series.items():
            ks = [k for k in KS if f"recall@{k}" in values]
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
            values = [hit_counts[n].get(kind, 0) / max(sum(hit_counts[n].values()), 1)
                      for n in names]
            ax.bar(names, values, bottom=bottom, label=kind)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylabel("share of beams")
        ax.set_title("Grounding hit types")
        ax.legend()
        save(fig, "grounding_hits.png")
    if train and train.get("train_loss"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        steps, losses = zip(*train["train_loss"])
        ax.plot(steps, losses, label="train")
        if train.get("valid_loss"):
            vs, vl = zip(*train["valid_loss"])
            ax.plot(vs, vl, marker="o", label="validation")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("answer-token loss")
        ax.legend()
        save(fig, "train_loss.png")
    return written


def build_report(pipeline) -> dict:
    """Collects every stage's outputs into ``report.json`` and ``report.md`` and draws the
    plots; returns the report."""
    config = pipeline.config
    out = pipeline.out
    dataset, split, eval_split = pipeline.data()
    term_ids = pipeline.term_ids()
    distinct = len(set(term_ids.values()))
    model: dict[str, dict] = {}
    hit_counts: dict[str, dict] = {}
    example_user = None
    for name in config.recommend.splits:
        metrics = _load(out / "recommend" / f"{name}_metrics.json")
        if metrics is None:
            continue
        model[name] = metrics
        rows = read_jsonl(out / "recommend" / f"{name}.jsonl")
        counts: dict[str, int] = {}
        for row in rows:
            for hit in row["beam_hits"]:
                counts[hit] = counts.get(hit, 0) + 1
        hit_counts[name] = counts
        if rows and (example_user is None or name == "test"):
            hit = next((r for r in rows if r["target"] in r["items"][:10]), rows[0])
            example_user = {"split": name, **hit}
    baselines = {}
    for name in config.baselines:
        result = _load(out / "baselines" / f"{name}.json")
        if result is not None:
            baselines[name] = {s: result[s] for s in ("valid", "test") if s in result}
    train = _load(out / "train" / "train_result.json")
    sft = _load(out / "sft" / "summary.json")
    if example_user is not None:
        history = next((e.history for e in getattr(eval_split, example_user["split"])
                        if e.user_id == example_user["user_id"]), ())
        example_user["history"] = [
            {"item_id": i, "title": dataset.items[i].title, "terms": list(term_ids[i])}
            for i in history]
        example_user["recommended"] = [
            {"item_id": i, "title": dataset.items[i].title, "terms": list(term_ids[i]),
             "hit": h} for i, h in zip(example_user["items"][:10],
                                       example_user["item_hits"][:10])]
    sample_items = sorted(dataset.items)[:5]
    report = {
        "name": config.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "dataset": {"name": dataset.name, "users": dataset.num_users,
                    "items": dataset.num_items, "interactions": dataset.num_interactions,
                    "split": split.summary(), "eval_users": len(eval_split.test)},
        "terms": {"source": config.terms.source, "items": len(term_ids),
                  "distinct_term_ids": distinct,
                  "items_sharing_a_term_id": len(term_ids) - distinct,
                  "examples": {i: list(term_ids[i]) for i in sample_items}},
        "sft": sft,
        "train": train,
        "model": model,
        "baselines": baselines,
        "beam_hit_counts": hit_counts,
        "example_user": example_user,
        "stage_seconds": pipeline.timings,
        "skipped_stages": pipeline.skipped,
    }
    report["plots"] = _plots(out, model, baselines, hit_counts, train)
    write_json(out / "report.json", report)
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    return report


def markdown(report: dict) -> str:
    lines = [f"# grlm run: {report['name']}", "",
             f"{report['created']}, {report['machine']}", ""]
    d = report["dataset"]
    lines += [(f"Dataset {d['name']}: {d['users']} users, {d['items']} items, "
               f"{d['interactions']} interactions; evaluated on {d['eval_users']} users."), ""]
    t = report["terms"]
    lines += [(f"Term IDs ({t['source']}): {t['items']} items, {t['distinct_term_ids']} "
               f"distinct, {t['items_sharing_a_term_id']} items share a Term ID."), ""]
    for split in ("valid", "test"):
        rows = {}
        if split in report["model"]:
            rows["GRLM"] = report["model"][split]
        for name, result in report["baselines"].items():
            if split in result:
                rows[name] = result[split]
        if rows:
            lines += [f"## {split}", "", metrics_table(rows), ""]
            m = report["model"].get(split)
            if m:
                vr = sorted((k for k in m if k.startswith("vr@")), key=lambda k: int(k[3:]))
                lines += ["Grounding: " + ", ".join(
                    f"{k} {m[k]:.3f}, {k.replace('vr', 'dhr')} {m[k.replace('vr', 'dhr')]:.3f}"
                    for k in vr) + f"; {m['grounding_ms_per_term_id']:.3f} ms per Term ID, "
                    f"generation {m['generation_s_per_user']:.2f} s per user.", ""]
    if report.get("train"):
        tr = report["train"]
        lines += [(f"Fine-tuning: {tr['steps']} steps, {tr['examples_seen']} examples, "
                   f"{tr['tokens_per_second']:.0f} tokens/s, {tr['seconds']:.0f} s."), ""]
    lines += ["## Term IDs of a few items", ""]
    lines += [f"- {i}: {json.dumps(v)}" for i, v in t["examples"].items()] + [""]
    user = report.get("example_user")
    if user:
        lines += [f"## User {user['user_id']} ({user['split']})", "", "History:"]
        lines += [f"- {h['title'] or h['item_id']} {h['terms']}" for h in user["history"]]
        lines += ["", f"Target: {user['target']}", "", "Top 10:"]
        lines += [f"{n}. {r['title'] or r['item_id']} {r['terms']} ({r['hit']})"
                  + ("  <- target" if r["item_id"] == user["target"] else "")
                  for n, r in enumerate(user["recommended"], 1)]
        lines.append("")
    lines += ["Stage seconds: " + ", ".join(f"{k} {v:.1f}"
                                            for k, v in report["stage_seconds"].items()), ""]
    lines += [f"![{p}]({p})" for p in report["plots"]]
    return "\n".join(lines) + "\n"
