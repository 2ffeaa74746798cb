"""Grounding benchmark: the compiled core against the plain-Python baselines, in one run.

Catalogs: Beauty with the GRLM authors' Term IDs (when ../shared is present) and a synthetic
catalog with a Zipf-distributed term vocabulary. Rows: direct mapping (compiled batch vs a dict of
joined normalized strings), structural mapping in both modes (compiled vs grlm.ground.reference,
on catalog Term IDs with one or two terms replaced), build time and index memory. Every compiled
result is checked against its baseline before timing.

    python bench/bench_grounding.py                      # Beauty + 1,000,000 synthetic items
    python bench/bench_grounding.py --synthetic-items 100000 --quick
    python bench/bench_grounding.py --synthetic-items 0 --random-words-items 200000
"""

from __future__ import annotations

import argparse
import datetime
import random
import string
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grlm.ground import Grounder
from grlm.ground.reference import DictDirectMap, ReferenceGrounder
from grlm.term_ids import load_term_ids
from timing import machine, measure, print_table

BEAUTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty" / "item_id2tid.json"


def synthetic_catalog(num_items: int, vocab_size: int = 50_000, length: int = 5, seed: int = 0):
    """Items with `length` terms drawn from a Zipf(1.0) law over random lowercase words."""
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    py_rng = random.Random(seed)
    while len(words) < vocab_size:
        words.add("".join(py_rng.choices(string.ascii_lowercase, k=py_rng.randint(4, 9))))
    vocab = sorted(words)
    probs = 1.0 / np.arange(1, vocab_size + 1)
    draws = np.searchsorted(np.cumsum(probs / probs.sum()), rng.random((num_items, length)))
    draws = np.minimum(draws, vocab_size - 1)
    return {f"s{i}": [vocab[t] for t in row] for i, row in enumerate(draws.tolist())}, vocab


def random_words_catalog(num_items: int, length: int = 5, seed: int = 0):
    """Items over 2.5 x num_items random words of 3 to 24 letters, each word in two items: many
    short words lie inside longer ones, the bag index's worst case (largest credit table)."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < num_items * length // 2:
        words.add("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 24))))
    vocab = sorted(words)
    return {
        f"r{i}": [vocab[(i * length + j) % len(vocab)] for j in range(length)]
        for i in range(num_items)
    }, vocab


def perturbed_queries(term_ids, vocab, count: int, seed: int = 1):
    """Catalog Term IDs with one or two terms replaced (what structural mapping is for)."""
    rng = random.Random(seed)
    ids = list(term_ids)
    queries = []
    for _ in range(count):
        query = list(term_ids[rng.choice(ids)])
        for position in rng.sample(range(len(query)), rng.choice([1, 2])):
            query[position] = rng.choice(vocab)
        queries.append(query)
    return queries


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def bench_catalog(name, term_ids, vocab, *, reference_queries: int, quick: bool):
    rows = []
    start = time.perf_counter()
    grounders = {mode: Grounder(term_ids, mode=mode) for mode in ("positional", "bag")}
    build = (time.perf_counter() - start) / 2
    memory = grounders["positional"].memory_bytes() / 2**20
    rows.append(
        [
            name,
            "build (per mode)",
            "",
            f"{build:.2f} s",
            "",
            f"{memory:.1f} MiB positional, {grounders['bag'].memory_bytes() / 2**20:.1f} MiB bag",
        ]
    )

    # Direct mapping on string queries: every query is a catalog Term ID, in mixed case so both
    # sides normalize.
    ids = list(term_ids)
    sample = random.Random(2).sample(ids, min(len(ids), 20_000 if quick else 100_000))
    upper = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)  # ASCII only, as the core
    queries = [
        [t.translate(upper) if i % 2 else t for t in term_ids[item]]
        for i, item in enumerate(sample)
    ]
    table = DictDirectMap(term_ids)
    g = grounders["positional"]
    batch = g.ground_batch(queries, k=len(ids))
    assert set(batch.hit_types) == {"direct"}
    for q in range(0, len(queries), max(1, len(queries) // 500)):
        assert sorted(
            batch.items[batch.offsets[q] : batch.offsets[q + 1]].tolist()
        ) == table.lookup(queries[q])
    t_dict = measure(lambda: [table.lookup(q) for q in queries], repeat=3) / len(queries)
    t_ours = {}
    for threads in (1, 0):
        t_ours[threads] = measure(
            lambda threads=threads: g.ground_batch(queries, k=10, num_threads=threads), repeat=3
        ) / len(queries)
    rows.append(
        [
            name,
            "direct, batch of str queries",
            fmt_time(t_dict),
            fmt_time(t_ours[1]),
            f"{t_dict / t_ours[1]:.1f}×",
            f"all cores: {fmt_time(t_ours[0])} ({t_dict / t_ours[0]:.1f}×)",
        ]
    )

    structural = perturbed_queries(term_ids, vocab, 2_000 if not quick else 500)
    for mode, grounder in grounders.items():
        reference = ReferenceGrounder(term_ids, mode=mode)
        checked = structural[:reference_queries]
        start = time.perf_counter()
        expected = [reference.structural(q, 10) for q in checked]
        t_ref = (time.perf_counter() - start) / len(checked)
        for query, want in zip(checked, expected):
            got = grounder.ground(query, k=10)
            if got.hit == "structural":  # a perturbed ID can still hit another item directly
                assert list(got.scores) == [s for _, s in want], (query, got, want)
        single = measure(
            lambda grounder=grounder: [grounder.ground(q, k=10) for q in structural], repeat=3
        ) / len(structural)
        batched = measure(
            lambda grounder=grounder: grounder.ground_batch(structural, k=10), repeat=3
        ) / len(structural)
        rows.append(
            [
                name,
                f"structural {mode}",
                fmt_time(t_ref),
                fmt_time(single),
                f"{t_ref / single:.0f}×",
                f"1 core, k=10; batch on all cores {fmt_time(batched)}/query",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-items", type=int, default=1_000_000)
    parser.add_argument(
        "--random-words-items",
        type=int,
        default=0,
        help="also a catalog of this many items over random words (bag worst case)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer queries (for the demo)")
    args = parser.parse_args()

    rows = []
    if BEAUTY.exists():
        beauty = load_term_ids(BEAUTY)
        vocab = sorted({t for terms in beauty.values() for t in terms})
        rows += bench_catalog(
            f"Beauty ({len(beauty):,})",
            beauty,
            vocab,
            reference_queries=10 if args.quick else 40,
            quick=args.quick,
        )
    else:
        print(f"({BEAUTY} absent: Beauty rows skipped)")
    if args.synthetic_items:
        start = time.perf_counter()
        synthetic, vocab = synthetic_catalog(args.synthetic_items)
        print(
            f"generated {len(synthetic):,} synthetic items in {time.perf_counter() - start:.1f} s"
        )
        rows += bench_catalog(
            f"Zipf ({len(synthetic):,})",
            synthetic,
            vocab,
            reference_queries=2 if args.synthetic_items >= 500_000 else 5,
            quick=args.quick,
        )
    if args.random_words_items:
        words, vocab = random_words_catalog(args.random_words_items)
        rows += bench_catalog(
            f"random words ({len(words):,})", words, vocab, reference_queries=2, quick=args.quick
        )
    print_table(
        f"grounding — {datetime.date.today()} — {machine()}",
        [
            "catalog",
            "operation",
            "Python baseline / query",
            "compiled / query",
            "speed-up",
            "notes",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
