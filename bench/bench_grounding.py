"""Grounding benchmark: the compiled core against the plain-Python baselines, in one run.

Catalogs: Beauty with the GRLM authors' Term IDs (when ../shared is present) and a synthetic
catalog with a Zipf-distributed term vocabulary. Rows: direct mapping (compiled batch vs a dict of
joined normalized strings), structural mapping in both modes (compiled vs grlm.ground.reference,
on two query sets: near misses, catalog Term IDs with one or two terms replaced by a vocabulary
term, and "frequent", the replacing term drawn as often as it occurs in the catalog: long posting
lists, the hard case for the scorer's dynamic pruning), build time and index memory. Every compiled
result is checked against its baseline before timing. A large Zipf catalog (--large-items) is
checked against, and timed beside, a numpy brute force instead (the Python reference would take
minutes per query).

    python bench/bench_grounding.py                      # Beauty + 1,000,000 synthetic items
    python bench/bench_grounding.py --large-items 10000000   # + a 10,000,000-item Zipf row
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
from grlm.ground.reference import (
    BAG_EXACT,
    BAG_PARTIAL,
    BAG_UNITS_PER_POINT,
    BAG_WEIGHT_SCALE,
    DictDirectMap,
    ReferenceGrounder,
)
from grlm.term_ids import load_term_ids
from timing import machine, measure, print_table

BEAUTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty" / "item_id2tid.json"


def zipf_draws(num_items: int, vocab_size: int = 50_000, length: int = 5, seed: int = 0):
    """(vocabulary of random lowercase words, num_items x length term indices drawn from a
    Zipf(1.0) law over it)."""
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    py_rng = random.Random(seed)
    while len(words) < vocab_size:
        words.add("".join(py_rng.choices(string.ascii_lowercase, k=py_rng.randint(4, 9))))
    vocab = sorted(words)
    probs = 1.0 / np.arange(1, vocab_size + 1)
    cdf = np.cumsum(probs / probs.sum())
    blocks = [  # in slices of the same random stream: 16 bytes a draw in flight
        np.searchsorted(cdf, rng.random((min(1_000_000, num_items - first), length)))
        for first in range(0, num_items, 1_000_000)
    ]
    return vocab, np.minimum(np.concatenate(blocks), vocab_size - 1).astype(np.int32)


def drawn_term_ids(vocab: list[str], draws: np.ndarray) -> dict[str, list[str]]:
    """{"s<i>": the words of row i}: the rows made by numpy (an object array of the words indexed
    by the draws), not by a Python loop over every term: under 2 s of CPU per million items."""
    rows = np.array(vocab, dtype=object)[draws].tolist()
    return dict(zip([f"s{i}" for i in range(len(rows))], rows))


def synthetic_catalog(num_items: int, vocab_size: int = 50_000, length: int = 5, seed: int = 0):
    """Items with `length` terms drawn from a Zipf(1.0) law over random lowercase words."""
    vocab, draws = zipf_draws(num_items, vocab_size, length, seed)
    return drawn_term_ids(vocab, draws), vocab


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


def perturbed_queries(term_ids, vocab, count: int, seed: int = 1, *, by_frequency: bool = False):
    """Catalog Term IDs with one or two terms replaced (what structural mapping is for): near
    misses, the replacing term drawn uniformly from the vocabulary (mostly rare terms); with
    by_frequency, drawn as often as it occurs in the catalog (mostly common terms: long posting
    lists, the hard case for pruning)."""
    rng = random.Random(seed)
    ids = list(term_ids)
    queries = []
    for _ in range(count):
        query = list(term_ids[rng.choice(ids)])
        for position in rng.sample(range(len(query)), rng.choice([1, 2])):
            if by_frequency:
                donor = term_ids[rng.choice(ids)]
                query[position] = donor[rng.randrange(len(donor))]
            else:
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

    count = 2_000 if not quick else 500
    query_sets = {
        "near-miss": perturbed_queries(term_ids, vocab, count),
        "frequent": perturbed_queries(term_ids, vocab, count, seed=3, by_frequency=True),
    }
    small = len(term_ids) < 100_000  # a reference pass takes well under a second
    for mode, grounder in grounders.items():
        reference = ReferenceGrounder(term_ids, mode=mode)
        for set_name, structural in query_sets.items():
            checked = structural[:reference_queries]
            expected, t_ref = timed_reference(reference, checked, passes=3 if small else 1)
            for query, want in zip(checked, expected):
                got = grounder.ground(query, k=10)
                if got.hit == "structural":  # a perturbed ID can still hit another item directly
                    assert list(got.scores) == [s for _, s in want], (query, got, want)
            rows.append(
                structural_row(name, f"structural {mode}, {set_name}", grounder, structural, t_ref)
            )
    return rows


def timed_reference(reference, queries, *, passes: int):
    """(the reference's top-10 of each query, its seconds per query): the best of ``passes``
    passes, as ``measure`` times the compiled side (one pass where a pass takes seconds)."""
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        answers = [reference.structural(q, 10) for q in queries]
        best = min(best, (time.perf_counter() - start) / len(queries))
    return answers, best


def structural_row(name, operation, grounder, queries, t_baseline):
    """The compiled scorer three ways: one ``ground`` call per query (the speed-up column), a
    batch on one thread (the same core without the per-call Python path), a batch on all."""
    n = len(queries)
    single = measure(lambda: [grounder.ground(q, k=10) for q in queries], repeat=3) / n
    one_thread = measure(lambda: grounder.ground_batch(queries, k=10, num_threads=1), repeat=3) / n
    batched = measure(lambda: grounder.ground_batch(queries, k=10), repeat=3) / n
    notes = f"1 core, k=10; batch on 1 thread {fmt_time(one_thread)} "
    notes += f"({t_baseline / one_thread:.0f}×), on all cores {fmt_time(batched)}"
    return [
        name,
        operation,
        fmt_time(t_baseline),
        fmt_time(single),
        f"{t_baseline / single:.0f}×",
        notes,
    ]


class BruteForce:
    """Every item scored with numpy over the encoded catalog (scores > 0, ties by catalog order):
    the check and the baseline of the large row. Bag credits follow grlm.ground.reference."""

    def __init__(self, vocab: list[str], draws: np.ndarray, mode: str):
        self.vocab, self.draws, self.mode = vocab, draws, mode
        self.index = {t: i for i, t in enumerate(vocab)}
        self.weights = 1.0 / np.arange(1, draws.shape[1] + 1)

    def top_k(self, query: list[str], k: int) -> list[float]:
        if self.mode == "positional":
            scores = np.zeros(len(self.draws))
            for j, term in enumerate(query):  # increasing j, as the core sums
                if term in self.index:
                    scores += np.where(self.draws[:, j] == self.index[term], self.weights[j], 0.0)
        else:
            credit = np.zeros(len(self.vocab), dtype=np.int64)
            for j, generated in enumerate(query):
                weight = BAG_WEIGHT_SCALE // (j + 1)
                for t, term in enumerate(self.vocab):
                    if generated == term:
                        credit[t] += BAG_EXACT * weight
                    elif generated in term or term in generated:
                        credit[t] += BAG_PARTIAL * weight
            scores = credit[self.draws].sum(axis=1) / BAG_UNITS_PER_POINT
        order = np.lexsort((np.arange(len(scores)), -scores))[:k]
        return [float(scores[i]) for i in order if scores[i] > 0]


def bench_large(num_items: int, *, quick: bool):
    """Build time, index memory and structural top-k at num_items Zipf items, against numpy."""
    start = time.perf_counter()
    vocab, draws = zipf_draws(num_items)
    term_ids = drawn_term_ids(vocab, draws)
    print(f"generated {num_items:,} items in {time.perf_counter() - start:.1f} s", flush=True)
    name = f"Zipf ({num_items:,})"
    count = 500 if not quick else 100
    query_sets = {
        "near-miss": perturbed_queries(term_ids, vocab, count),
        "frequent": perturbed_queries(term_ids, vocab, count, seed=3, by_frequency=True),
    }
    rows = []
    for mode in ("positional", "bag"):
        start = time.perf_counter()
        grounder = Grounder(term_ids, mode=mode)
        build = time.perf_counter() - start
        memory = grounder.memory_bytes() / 2**20
        rows.append([name, f"build {mode}", "", f"{build:.2f} s", "", f"{memory:.1f} MiB"])
        brute = BruteForce(vocab, draws, mode)
        for set_name, queries in query_sets.items():
            start = time.perf_counter()
            for query in queries[:3]:
                got = grounder.ground(query, k=10)
                if got.hit == "structural":
                    assert list(got.scores) == brute.top_k(query, 10), query
            t_brute = (time.perf_counter() - start) / 3
            row = structural_row(name, f"structural {mode}, {set_name}", grounder, queries, t_brute)
            rows.append(row[:5] + [row[5] + "; baseline: numpy brute force"])
        del grounder
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--beauty", type=Path, default=BEAUTY, help="item_id2tid.json of Beauty (from a worktree)"
    )
    parser.add_argument("--synthetic-items", type=int, default=1_000_000)
    parser.add_argument(
        "--random-words-items",
        type=int,
        default=0,
        help="also a catalog of this many items over random words (bag worst case)",
    )
    parser.add_argument(
        "--large-items",
        type=int,
        default=0,
        help="also a Zipf catalog of this many items (e.g. 10000000), checked against numpy",
    )
    parser.add_argument("--quick", action="store_true", help="fewer queries (for the demo)")
    args = parser.parse_args()

    rows = []
    if args.beauty.exists():
        beauty = load_term_ids(args.beauty)
        vocab = sorted({t for terms in beauty.values() for t in terms})
        rows += bench_catalog(
            f"Beauty ({len(beauty):,})",
            beauty,
            vocab,
            reference_queries=10 if args.quick else 40,
            quick=args.quick,
        )
    else:
        print(f"({args.beauty} absent: Beauty rows skipped)")
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
    if args.large_items:
        rows += bench_large(args.large_items, quick=args.quick)
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
