"""Stress test: reader threads ground Term IDs and walk the token trie while a writer changes the
trie, for a bounded time. Reports operations per second, crashes and wrong answers (both must
be 0).

    python bench/stress_threads.py                      # 4 readers, 60 s
    python bench/stress_threads.py --readers 8 --seconds 10

Every answer is checked:
- ground / ground_batch: against answers computed single-threaded before the threads start
  (the catalog does not change: the core has no online catalog updates);
- the trie: stable items (never removed) must always be found, with the right allowed tokens;
  any item reported at a sequence must be one whose sequence that is (a volatile item may be
  there or not, depending on when the writer added or removed it).

The workload runs in a child process, so that a crash is counted (the child's signal) instead
of ending the benchmark. Hangs count as crashes too (the child gets --seconds + 120 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import machine

EOS = 1


def catalog(num_items: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(400)]
    return {
        f"item{n}": [
            rng.choice(words[:40]),
            rng.choice(words),
            rng.choice(words),
            rng.choice(words),
            rng.choice(words),
        ]
        for n in range(num_items)
    }


def workload(args: argparse.Namespace) -> dict:
    from grlm.decoding import TokenTrie
    from grlm.ground import Grounder

    rng = random.Random(args.seed)
    term_ids = catalog(args.items, args.seed)
    grounder = Grounder(term_ids, mode="bag")
    keys = list(term_ids)
    queries = [list(term_ids[rng.choice(keys)]) for _ in range(200)]
    queries += [[rng.choice(["w1", "w7", "zz"]) for _ in range(5)] for _ in range(200)]
    expected = [(r.hit, r.item_ids) for r in (grounder.ground(q, k=10) for q in queries)]

    stable = {f"s{n}": [2 + n % 7, 100 + n % 97, 1000 + n, EOS] for n in range(args.items)}
    trie = TokenTrie.from_sequences(stable, EOS)
    stable_keys = list(stable)
    volatile_seq = {}  # every volatile key ever added -> its sequence (never changes)

    deadline = time.monotonic() + args.seconds
    counts: dict[str, int] = {}
    wrong: list[str] = []
    lock = threading.Lock()

    def tally(local: dict[str, int]) -> None:
        with lock:
            for name, n in local.items():
                counts[name] = counts.get(name, 0) + n

    def guarded(body):
        """Runs a thread's body until the deadline; an exception counts as a wrong answer and
        the body starts again, so the threads keep racing."""

        def run(*a):
            while time.monotonic() < deadline:
                try:
                    body(*a)
                except Exception as error:  # noqa: BLE001 - every failure is counted
                    wrong.append(f"{body.__name__} raised {type(error).__name__}: {error}")

        return run

    def reader(seed: int) -> None:
        r = random.Random(seed)
        local = {"ground_batch(64)": 0, "ground": 0, "trie_walk": 0, "trie_items_of": 0}
        while time.monotonic() < deadline:
            start = r.randrange(len(queries) - 64)
            batch = grounder.ground_batch(queries[start : start + 64], k=10, num_threads=2)
            if [(g.hit, g.item_ids) for g in batch] != expected[start : start + 64]:
                wrong.append(f"ground_batch at {start}")
            local["ground_batch(64)"] += 1
            q = r.randrange(len(queries))
            got = grounder.ground(queries[q], k=10)
            if (got.hit, got.item_ids) != expected[q]:
                wrong.append(f"ground {queries[q]}")
            local["ground"] += 1
            for _ in range(20):
                key = r.choice(stable_keys)
                seq = stable[key]
                if seq[1] not in trie.allowed_after(seq[:1]) or trie.walk(seq) < 0:
                    wrong.append(f"trie lost the path of {key}")
                local["trie_walk"] += 1
                found = trie.items_of(seq)
                if key not in found or any(
                    stable.get(k, volatile_seq.get(k)) != seq for k in found
                ):
                    wrong.append(f"trie items_of({seq}) = {found}")
                local["trie_items_of"] += 1
            vseq = [2, 99, 50_000 + r.randrange(200), EOS]
            for k in trie.items_of(vseq):
                if volatile_seq.get(k) != vseq:
                    wrong.append(f"trie items_of({vseq}) reported {k}")
            tally(local)
            local = dict.fromkeys(local, 0)

    def writer() -> None:
        # Batches of 32 items: each change runs long enough with the GIL released for readers
        # to run inside it.
        local = {"trie_add(32)": 0, "trie_remove": 0, "trie_export": 0}
        r = random.Random(args.seed + 1)
        n = 0
        while time.monotonic() < deadline:
            batch = {}
            for i in range(32):
                # Volatile items share a prefix with one another: some adds are structural.
                batch[f"v{n}_{i}"] = [2, 99, 50_000 + r.randrange(200), EOS]
            volatile_seq.update(batch)
            trie.add_sequences(batch)
            local["trie_add(32)"] += 1
            if n % 4 == 0:
                trie.export()
                local["trie_export"] += 1
            if n >= 2:
                for i in range(32):
                    trie.remove(f"v{n - 2}_{i}")
                local["trie_remove"] += 32
            n += 1
            tally(local)
            local = dict.fromkeys(local, 0)

    threads = [
        threading.Thread(target=guarded(reader), args=(args.seed + 10 + i,))
        for i in range(args.readers)
    ]
    threads.append(threading.Thread(target=guarded(writer)))
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    return {
        "seconds": round(elapsed, 1),
        "ops_per_second": {k: round(v / elapsed, 1) for k, v in counts.items()},
        "wrong_answers": len(wrong),
        "first_wrong": wrong[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(workload(args)))
        return 0
    command = [
        sys.executable,
        __file__,
        "--child",
        "--readers",
        str(args.readers),
        "--seconds",
        str(args.seconds),
        "--items",
        str(args.items),
        "--seed",
        str(args.seed),
    ]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=args.seconds + 120
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as timeout:
        code, out, err = "hang", "", str(timeout)
    result = json.loads(out.strip().splitlines()[-1]) if code == 0 else {}
    crashes = 0 if code == 0 else 1
    print(
        f"machine: {machine()}; {args.readers} readers + 1 writer, {args.seconds:g} s, "
        f"{args.items} items"
    )
    if code != 0:
        reason = (
            f"signal {signal.Signals(-code).name}"
            if isinstance(code, int) and code < 0
            else f"exit {code}"
        )
        print(f"crashes: 1 ({reason})\n{err[-3000:]}")
        return 1
    print("| operation | ops/s |\n|---|---|")
    for name, rate in result["ops_per_second"].items():
        print(f"| {name} | {rate:,.1f} |")
    print(f"crashes: {crashes}\nwrong answers: {result['wrong_answers']}")
    for line in result["first_wrong"]:
        print("  ", line)
    return 1 if result["wrong_answers"] else 0


if __name__ == "__main__":
    sys.exit(main())
