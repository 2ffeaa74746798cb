"""Online catalog updates: the cost of one add / remove / update, whether the next query sees it,
query latency with an empty delta against a delta near the compaction threshold, compact() and
Grounder.load of the catalog's index, in one run.

Catalogs: 1,000,000 synthetic items (bench_grounding's Zipf vocabulary) and Beauty (when
../shared is present). Before anything is timed, the changed grounder's answers are checked
against a Grounder built from scratch on the final catalog. Change costs are single calls
(median and p99 over a bounded count of changes, each a separate call); query latency uses the
shared timing helper (best of several samples) and is reported as a ratio to the empty delta.

    python bench/bench_catalog_updates.py                       # 1M synthetic + Beauty
    python bench/bench_catalog_updates.py --items 100000 --changes 100
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grounding import BEAUTY, synthetic_catalog
from grlm.ground import Grounder, updates
from grlm.term_ids import load_term_ids
from timing import machine, measure, print_table


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def structural_queries(catalog: dict, vocab: list[str], n: int, rng: random.Random) -> list:
    """Catalog Term IDs with one term replaced (structural hits), and exact ones (direct)."""
    ids = list(catalog)
    out = []
    for _ in range(n):
        terms = list(catalog[rng.choice(ids)])
        if rng.random() < 0.7:
            terms[rng.randrange(len(terms))] = rng.choice(vocab)
        out.append(terms)
    return out


def timed_changes(
    grounder: Grounder, catalog: dict, vocab: list[str], count: int, rng: random.Random
) -> dict[str, list[float]]:
    """count adds, removes and updates (interleaved), each timed alone and followed by a query
    that must see it (not timed). Keeps `catalog` equal to the grounder's."""
    costs: dict[str, list[float]] = {"add": [], "remove": [], "update": []}
    base_ids = list(catalog)
    rng.shuffle(base_ids)
    removable = base_ids[: 2 * count]
    length = len(next(iter(catalog.values())))
    for step in range(count):
        new_id = f"added-{step}"
        terms = [rng.choice(vocab) for _ in range(length)]
        start = time.perf_counter()
        grounder.add_items({new_id: terms})
        costs["add"].append(time.perf_counter() - start)
        catalog[new_id] = terms
        assert new_id in grounder.ground(terms, k=50).item_ids, "add not visible"

        gone = removable[2 * step]
        start = time.perf_counter()
        grounder.remove_items([gone])
        costs["remove"].append(time.perf_counter() - start)
        gone_terms = catalog.pop(gone)
        assert gone not in grounder.ground(gone_terms, k=50).item_ids, "remove not visible"

        changed = removable[2 * step + 1]
        terms = [rng.choice(vocab) for _ in range(length)]
        start = time.perf_counter()
        grounder.update_items({changed: terms})
        costs["update"].append(time.perf_counter() - start)
        catalog[changed] = terms
        result = grounder.ground(terms, k=50)
        assert result.hit == "direct" and changed in result.item_ids, "update not visible"
    return costs


def run(
    name: str,
    catalog: dict,
    vocab: list[str],
    mode: str,
    changes: int,
    threshold: int,
    rows: list[list[str]],
) -> None:
    rng = random.Random(0)
    label = f"{name} ({len(catalog):,}), {mode}"
    updates.DEFAULT_COMPACT_THRESHOLD = threshold  # read when a grounder is built
    start = time.perf_counter()
    grounder = Grounder(catalog, mode=mode)
    build = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.grlm")
        grounder.save(path)
        start = time.perf_counter()
        Grounder.load(path)
        load = time.perf_counter() - start
    queries = structural_queries(catalog, vocab, 256, rng)
    before = measure(lambda: grounder.ground_batch(queries, k=10, num_threads=1), repeat=3)

    catalog = dict(catalog)
    costs = timed_changes(grounder, catalog, vocab, changes, rng)
    stats = grounder.update_stats
    pending = stats["pending"]
    segments = stats["delta_segments"]
    # Correctness before timing: the changed grounder against one built on the final catalog.
    fresh = Grounder(catalog, mode=mode)
    assert grounder.item_ids == fresh.item_ids
    for k in (1, 10, 100):
        assert list(grounder.ground_batch(queries, k=k)) == list(fresh.ground_batch(queries, k=k))
    del fresh
    after = measure(lambda: grounder.ground_batch(queries, k=10, num_threads=1), repeat=3)
    start = time.perf_counter()
    grounder.compact()
    compact = time.perf_counter() - start

    for kind in ("add", "remove", "update"):
        rows.append(
            [
                label,
                f"one {kind}",
                ms(statistics.median(costs[kind])),
                ms(percentile(costs[kind], 0.99)),
                f"{changes} calls; visible to the next query",
            ]
        )
    rows.append(
        [
            label,
            "query, empty delta",
            f"{before / len(queries) * 1e6:.1f} µs",
            "",
            "batch of 256, k=10, 1 thread",
        ]
    )
    rows.append(
        [
            label,
            f"query, {pending} pending (threshold {threshold})",
            f"{after / len(queries) * 1e6:.1f} µs",
            "",
            f"{after / before:.2f}x the empty delta; {segments} delta segments",
        ]
    )
    rows.append([label, "compact()", f"{compact:.2f} s", "", f"build from scratch {build:.2f} s"])
    rows.append([label, "Grounder.load", f"{load:.2f} s", "", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=250, help="of each kind (bounded)")
    parser.add_argument("--modes", default="positional,bag")
    parser.add_argument("--beauty", type=Path, default=BEAUTY, help="item_id2tid.json")
    parser.add_argument("--threshold", type=int, default=updates.DEFAULT_COMPACT_THRESHOLD)
    args = parser.parse_args()
    # Each round leaves 4 pending changes (add: a delta item; remove: a tombstone; update: both).
    if 4 * args.changes > args.threshold:
        parser.error("4 x --changes must stay within --threshold (no compaction while timing)")
    print(f"catalog updates — {datetime.date.today()} — {machine()}, {os.cpu_count()} cores")
    rows: list[list[str]] = []
    catalogs = []
    if args.beauty.exists():
        beauty = load_term_ids(args.beauty)
        catalogs.append(("Beauty", beauty, sorted({t for ts in beauty.values() for t in ts})))
    if args.items:
        catalog, vocab = synthetic_catalog(args.items)
        catalogs.append(("Zipf", catalog, vocab))
    for name, catalog, vocab in catalogs:
        for mode in args.modes.split(","):
            run(name, catalog, vocab, mode, args.changes, args.threshold, rows)
    print_table("catalog updates", ["catalog", "operation", "median", "p99", "notes"], rows)


if __name__ == "__main__":
    main()
