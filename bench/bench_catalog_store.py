"""The catalog store (grlm.store) on the loopback, per backend (SQLite, PostgreSQL):

- write latency: one change (a one-item upsert) through a follower, from the call to its
  acknowledgement (committed to the store and applied by the writer), p50 / p99;
- propagation lag: a writer commits at a fixed rate (100 changes/s); a second follower (its own
  store connection, on a following thread) is watched, and the lag of a change is the time from
  its acknowledgement to that follower's first snapshot holding it, p50 / p99. The same over
  HTTP: two ``grlm serve --store`` processes, PUTs to one, the other asked back to back; the lag
  runs from the PUT's answer to the other's first answer at that version;
- restart: a catalog of --items synthetic items with --changes changes committed after its
  newest checkpoint; the time to open the store, load the checkpoint and replay the changes
  (``StoreFollower.restore``), checked against a Grounder built from the store's catalog.

Everything is bounded by counts; PostgreSQL is the server GRLM_TEST_POSTGRES_URL names, else a
throwaway one started with scripts/postgres.sh (and stopped after).

    python bench/bench_catalog_store.py                      # 1M items, 10,000 changes
    python bench/bench_catalog_store.py --items 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grounding import synthetic_catalog
from grlm.ground import Grounder
from grlm.ground.updates import CatalogChange
from grlm.store import StoreFollower, create_store, open_store
from timing import machine, print_table

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {  # issue 23: (write p99, lag p99) in ms
    "sqlite": (10.0, 50.0),
    "postgresql": (20.0, 100.0),
}
RESTART_TARGET_S = 3.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def write_latency(url: str, writes: int) -> list[float]:
    with open_store(url) as store:
        follower = StoreFollower.restore(store)
        samples = []
        for n in range(writes):
            change = CatalogChange(upsert={f"w{n % 500}": ["written", f"t{n % 97}"]})
            start = time.perf_counter()
            follower.commit(change)
            samples.append(time.perf_counter() - start)
        return samples


def propagation_lag(url: str, rate: float, count: int) -> list[float]:
    """Seconds from each acknowledgement to the second follower's snapshot holding it."""
    acknowledged: dict[int, float] = {}
    seen: dict[int, float] = {}
    with open_store(url) as writer_store, open_store(url) as reader_store:
        writer = StoreFollower.restore(writer_store)
        reader = StoreFollower.restore(reader_store).start()
        first = writer.applied_version + 1
        done = threading.Event()

        def watch() -> None:  # notes when each version becomes readable on the reader
            last = reader.current().version
            while not done.is_set() or last < first + count - 1:
                version = reader.current().version
                now = time.perf_counter()
                for v in range(last + 1, version + 1):
                    seen[v] = now
                last = version
                time.sleep(0.0002)

        watcher = threading.Thread(target=watch)
        watcher.start()
        start = time.perf_counter()
        for n in range(count):
            time.sleep(max(0.0, start + n / rate - time.perf_counter()))
            version = writer.commit(CatalogChange(upsert={f"lag{n % 300}": ["lag", f"t{n}"]}))
            acknowledged[version] = time.perf_counter()
        done.set()
        watcher.join(timeout=60)
        reader.stop()
    # A version the reader applied before the writer's call returned has lag 0.
    return [max(0.0, seen[v] - acknowledged[v]) for v in acknowledged if v in seen]


def serve(url: str, token: str) -> tuple[subprocess.Popen, str]:
    """``grlm serve --store url`` on 127.0.0.1 and a free port, once /healthz answers."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "grlm.cli", "serve", "--store", url, "--port", str(port)]
    process = subprocess.Popen(
        command, env=dict(os.environ, GRLM_ADMIN_TOKEN=token), stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"grlm serve --store {url} did not start")


def http_lag(url: str, rate: float, count: int) -> list[float]:
    """Seconds from each ``PUT /v1/items`` answered by one ``grlm serve`` to the first
    ``POST /v1/ground`` answer of a second one on the same store at that version (the second
    is asked back to back, about a millisecond a request)."""
    import secrets

    import httpx

    token = secrets.token_hex(16)
    servers = [serve(url, token) for _ in range(2)]
    acknowledged: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()
    try:
        (_, writer_url), (_, reader_url) = servers

        def watch() -> None:
            with httpx.Client(base_url=reader_url, timeout=30) as client:
                last = 0
                while not done.is_set() or last < max(acknowledged, default=0):
                    answer = client.post("/v1/ground", json={"term_ids": [["lag"]], "k": 1})
                    version, now = answer.json()["catalog_version"], time.perf_counter()
                    for v in range(last + 1, version + 1):
                        seen[v] = now
                    last = max(last, version)

        watcher = threading.Thread(target=watch)
        watcher.start()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=writer_url, timeout=30, headers=auth) as client:
            start = time.perf_counter()
            for n in range(count):
                time.sleep(max(0.0, start + n / rate - time.perf_counter()))
                body = {"items": {f"lag{n % 300}": ["lag", f"t{n}"]}}
                answer = client.put("/v1/items", json=body)
                answer.raise_for_status()
                acknowledged[answer.json()["catalog_version"]] = time.perf_counter()
        done.set()
        watcher.join(timeout=60)
    finally:
        done.set()
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=30)
    return [max(0.0, seen[v] - acknowledged[v]) for v in acknowledged if v in seen]


def restart(url: str, grounder: Grounder, changes: int) -> dict:
    timings = {}
    start = time.perf_counter()
    store = create_store(url, grounder)  # items rows + the version-0 checkpoint
    timings["create"] = time.perf_counter() - start
    ids = list(grounder.item_ids)
    start = time.perf_counter()
    for n in range(changes):  # a mix of adds, Term ID updates and removals, one item each
        if n % 3 == 0:
            change = CatalogChange(add={f"new{n}": ["fresh", f"t{n % 101}", f"u{n % 7}"]})
        elif n % 3 == 1:
            change = CatalogChange(update={ids[n]: ["changed", f"t{n % 103}"]})
        else:
            change = CatalogChange(remove=[ids[n + 1]])
        store.commit_changes(change)
    timings["commit changes"] = time.perf_counter() - start
    store.close()
    start = time.perf_counter()
    with open_store(url) as store:
        follower = StoreFollower.restore(store)
        timings["restart"] = time.perf_counter() - start
        fresh = store.catalog().grounder()
        queries = [list(fresh.item_terms(i)) for i in list(fresh.item_ids)[-50:]]
        got = follower.grounder.ground_batch(queries, k=5)
        want = fresh.ground_batch(queries, k=5)
        assert [r.item_ids for r in got] == [r.item_ids for r in want], "restart disagrees"
        assert follower.applied_version == changes
    return timings


def postgres_server():
    """(url, folder to stop or None) of a PostgreSQL server for the run."""
    url = os.environ.get("GRLM_TEST_POSTGRES_URL")
    if url:
        return url, None
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.split("\n") if line)
    return env["GRLM_TEST_POSTGRES_URL"], env["GRLM_TEST_POSTGRES_DIR"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="restart catalog size")
    parser.add_argument("--changes", type=int, default=10_000, help="after the checkpoint")
    parser.add_argument("--writes", type=int, default=500, help="write latency samples")
    parser.add_argument("--rate", type=float, default=100.0, help="changes/s for the lag")
    parser.add_argument("--lag-changes", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(f"# catalog store, {datetime.date.today()}, {machine()}")
    small = Grounder(synthetic_catalog(10_000)[0])
    large = Grounder(synthetic_catalog(args.items)[0])
    server = postgres_server() if "postgresql" in backends else None
    rows, restart_rows = [], []
    try:
        for backend in backends:
            with tempfile.TemporaryDirectory(prefix="grlm-bench-store-") as folder:
                urls = iter(new_urls(backend, folder, server))
                url = next(urls)
                create_store(url, small).close()
                writes = write_latency(url, args.writes)
                lags = propagation_lag(url, args.rate, args.lag_changes)
                served = http_lag(url, args.rate, args.lag_changes)
                write_target, lag_target = TARGETS[backend]
                rows.append(
                    [
                        backend,
                        ms(percentile(writes, 0.5)),
                        ms(percentile(writes, 0.99)),
                        f"{write_target:g} ms",
                        f"{ms(percentile(lags, 0.5))} / {ms(percentile(served, 0.5))}",
                        f"{ms(percentile(lags, 0.99))} / {ms(percentile(served, 0.99))}",
                        f"{lag_target:g} ms",
                        f"{len(lags)} / {len(served)} of {args.lag_changes}",
                    ]
                )
                timings = restart(next(urls), large, args.changes)
                restart_rows.append(
                    [
                        backend,
                        f"{args.items:,}",
                        f"{args.changes:,}",
                        f"{timings['create']:.1f} s",
                        f"{timings['commit changes'] / args.changes * 1e3:.2f} ms",
                        f"{timings['restart']:.2f} s",
                        f"{RESTART_TARGET_S:g} s",
                    ]
                )
    finally:
        if server is not None and server[1] is not None:
            stop = ["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", server[1]]
            subprocess.run(stop, check=False)
    print_table(
        f"Writes (10,000-item catalog, {args.writes} one-item upserts) and propagation lag "
        f"({args.lag_changes} changes at {args.rate:g}/s; lag: to a second follower in this"
        " process / from one grlm serve's PUT answer to a second grlm serve's answer)",
        ["backend", "write p50", "write p99", "target", "lag p50", "lag p99", "target", "seen"],
        rows,
    )
    print_table(
        "Restart: open, newest checkpoint, replay of the changes after it",
        ["backend", "items", "changes", "create", "per commit", "restart", "target"],
        restart_rows,
    )


def new_urls(backend: str, folder: str, server):
    """Fresh store locations of one backend: files in ``folder``, or new databases."""
    n = 0
    while True:
        n += 1
        if backend == "sqlite":
            yield f"sqlite:///{folder}/catalog{n}.db"
            continue
        import psycopg

        name = f"grlm_bench_{os.getpid()}_{n}"
        with psycopg.connect(server[0], autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {name}")
        yield server[0].rsplit("/", 1)[0] + "/" + name


if __name__ == "__main__":
    main()
