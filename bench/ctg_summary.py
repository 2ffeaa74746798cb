"""Summary of `grlm terms build` runs (bench/gpu_ctg.sh): one column per variant.

A finished build is read from its ``OUT.stats.json``; a build stopped by a timeout from its
generation log ``OUT.log.jsonl`` (the items finished so far, before collision resolution).
A build re-derived from its log (``grlm terms build --from-log``) generated nothing: ``--timing
NAME STATS`` takes the generation timing from the stats file of the run that wrote the log.

    python bench/ctg_summary.py --dataset DIR --run context OUT.jsonl WALL_S EXIT_CODE \
        [--run ...] [--timing context GPU_OUT.jsonl.stats.json] [--write summary.txt]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from grlm.terms.request import read_items
from grlm.terms.stats import term_id_stats


def read_log(path: Path) -> dict[str, dict]:
    """Records of a generation log, a line torn by a kill skipped."""
    records = {}
    with open(path, encoding="utf-8") as stream:
        next(stream, None)  # the settings header
        for line in stream:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            records[str(record["item_id"])] = record
    return records


def describe(
    name: str, out: Path, wall: float, code: int, catalog: int, timing: Path | None = None
) -> dict:
    """One variant's numbers, from its stats file or, for a partial run, its log; generation
    timing from ``timing`` (another run's stats file) when given."""
    row: dict = {"name": name, "exit": code, "wall_s": wall}
    stats_path = out.with_name(out.name + ".stats.json")
    log_path = out.with_name(out.name + ".log.jsonl")
    records = read_log(log_path) if log_path.exists() else {}
    statuses = Counter(r["status"] for r in records.values())
    row["finished"] = len(records)
    row["complete"] = code == 0 and stats_path.exists()
    if row["complete"]:
        report = json.loads(stats_path.read_text(encoding="utf-8"))
        stats = report["stats"]
        row["generation"] = dict(stats["generation"])
        if timing is not None:
            earlier = json.loads(timing.read_text(encoding="utf-8"))["stats"]["generation"]
            row["generation"].update(
                {k: earlier[k] for k in ("generated", "seconds", "items_per_second")}
            )
        row["collisions"] = stats.get("collisions", {})
        row["vocabulary"] = stats["vocabulary_size"]
        row["distinct"] = stats["distinct_term_ids"]
        row["terms"] = {
            r["item_id"]: r["terms"]
            for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
        }
    else:
        terms = {i: r["terms"] for i, r in records.items() if r["terms"]}
        stats = term_id_stats(terms) if terms else {}
        n = max(len(records), 1)
        row["generation"] = {
            "legal_first_try": statuses["ok"],
            "legal_first_try_rate": statuses["ok"] / n,
            "retried": statuses["retried"],
            "legal_after_retries_rate": (statuses["ok"] + statuses["retried"]) / n,
            "repaired": statuses["repaired"],
            "failed": statuses["failed"],
            "completed_from_neighbours": None,
        }
        row["collisions"] = {
            "items_in_collisions_before": stats.get("items_in_collisions"),
            "groups_before": stats.get("collision_groups"),
        }
        row["vocabulary"] = stats.get("vocabulary_size")
        row["distinct"] = stats.get("distinct_term_ids")
        row["terms"] = terms
    row["items_per_s_wall"] = row["finished"] / wall if wall > 0 else 0.0
    row["catalog"] = catalog
    return row


def format_rows(rows: list[dict], titles: dict[str, str], order: list[str]) -> str:
    def cell(row, key):
        g, c = row["generation"], row["collisions"]
        values = {
            "state": (
                "complete"
                if row["complete"]
                else f"PARTIAL (exit {row['exit']}{', timeout' if row['exit'] == 124 else ''})"
            ),
            "items finished": f"{row['finished']} / {row['catalog']}",
            "wall time (whole command)": f"{row['wall_s']:.1f} s",
            "items/s over the wall time": f"{row['items_per_s_wall']:.2f}",
            "items/s in generation": (
                f"{g['items_per_second']:.2f} ({g['seconds']:.1f} s)"
                if "items_per_second" in g
                else "-"
            ),
            "legal before repair (first answer)": f"{g['legal_first_try']} ({100 * g['legal_first_try_rate']:.1f} %)",
            "legal after retries": f"{100 * g['legal_after_retries_rate']:.1f} %",
            "repaired / completed from neighbours / failed": f"{g['repaired']} / {g.get('completed_from_neighbours')} / {g['failed']}",
            "collisions before (items, groups)": f"{c.get('items_in_collisions_before')}, {c.get('groups_before')}",
            "collisions after (items, groups)": (
                f"{c.get('items_in_collisions_after')}, {c.get('groups_after')}"
                if row["complete"]
                else "- (not resolved: partial run)"
            ),
            "changed by regeneration / text": (
                f"{c.get('changed_by_regeneration')} / {c.get('changed_by_text')}"
                if row["complete"]
                else "-"
            ),
            "distinct Term IDs": str(row["distinct"]),
            "term vocabulary": str(row["vocabulary"]),
        }
        return values[key].replace("None", "-")

    keys = [
        "state",
        "items finished",
        "wall time (whole command)",
        "items/s over the wall time",
        "items/s in generation",
        "legal before repair (first answer)",
        "legal after retries",
        "repaired / completed from neighbours / failed",
        "collisions before (items, groups)",
        "collisions after (items, groups)",
        "changed by regeneration / text",
        "distinct Term IDs",
        "term vocabulary",
    ]
    lines = ["| | " + " | ".join(r["name"] for r in rows) + " |", "| --- |" + " --- |" * len(rows)]
    lines += [f"| {k} | " + " | ".join(cell(r, k) for r in rows) + " |" for k in keys]
    lines += [
        "",
        "Ten example items (the first ten of the catalog):",
        "",
        "| item | title | " + " | ".join(r["name"] for r in rows) + " |",
        "| --- | --- |" + " --- |" * len(rows),
    ]
    for item_id in order[:10]:
        title = titles[item_id][:80].replace("|", "/")
        ids = [
            ("[" + ", ".join(r["terms"][item_id]) + "]") if item_id in r["terms"] else "-"
            for r in rows
        ]
        lines.append(f"| {item_id} | {title} | " + " | ".join(ids) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument(
        "--run",
        nargs=4,
        action="append",
        required=True,
        metavar=("NAME", "OUT", "WALL_S", "EXIT_CODE"),
    )
    parser.add_argument(
        "--timing",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "STATS"),
        help="generation timing of run NAME from another stats file",
    )
    parser.add_argument("--limit", type=int, default=None, help="the build's --limit")
    parser.add_argument("--write", default=None, help="also write the summary here")
    args = parser.parse_args()
    items = read_items(args.dataset)[: args.limit]
    titles = {item.item_id: item.title for item in items}
    order = [item.item_id for item in items]
    timings = {name: Path(path) for name, path in args.timing}
    unknown = set(timings) - {name for name, *_ in args.run}
    if unknown:
        parser.error(f"--timing names no --run: {sorted(unknown)}")
    rows = [
        describe(name, Path(out), float(wall), int(code), len(items), timings.get(name))
        for name, out, wall, code in args.run
    ]
    text = format_rows(rows, titles, order)
    print(text)
    if args.write:
        Path(args.write).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
