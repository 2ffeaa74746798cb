"""Load test of `grlm serve` on the loopback: the server runs as a subprocess on 127.0.0.1 and
is driven by concurrent httpx clients, bounded in count and time.

For each catalog (Beauty with the authors' Term IDs when ../shared is present, and synthetic
Zipf items): answers are checked against the in-process Grounder first; then, beside the
in-process ground_batch figure of the same run,
- closed loop, N clients: throughput and p50/p95/p99 with 1-Term-ID and 64-Term-ID requests;
- one client, one request at a time: the HTTP overhead per request (latency minus in-process);
- open loop at a fixed rate (default 1,000 requests/s of one Term ID): p99 at that rate,
  latency counted from each request's scheduled time (no coordinated omission);
- seconds from `grlm serve` start to the first answered request, and `Grounder.load` seconds.
Then the soak (Beauty, or the synthetic catalog): catalog updates every 100 ms through
PUT/DELETE /v1/items while clients ground; it reports 5xx, wrong answers (against Grounders
rebuilt from the update log at the versions the answers name, and one built from the final
catalog) and the server's RSS growth.

    python bench/bench_serve.py                  # full: 1,000,000 synthetic items, 60 s soak
    python bench/bench_serve.py --quick          # small and short (CI smoke)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grounding import perturbed_queries, synthetic_catalog
from grlm.ground import Grounder
from grlm.term_ids import load_term_ids
from timing import machine, measure, print_table

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside a checkout; a worktree under /work/wt/ has it two levels up.
BEAUTY = next(
    (
        p / "shared" / "data" / "beauty" / "item_id2tid.json"
        for p in ROOT.parents[:2]
        if (p / "shared" / "data" / "beauty").is_dir()
    ),
    ROOT.parent / "shared",
)
TOKEN = "bench-serve-admin-token"
JSON_HEADERS = {"Content-Type": "application/json"}
K = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`grlm serve` as a subprocess on 127.0.0.1; started() returns seconds to the first
    answered /v1/ground request."""

    def __init__(self, index: Path, probe: list[str], extra: list[str] = ()):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, GRLM_ADMIN_TOKEN=TOKEN, PYTHONPATH=str(ROOT / "python"))
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grlm.cli",
                "serve",
                "--index",
                str(index),
                "--port",
                str(self.port),
                *extra,
            ],
            env=env,
        )
        self.startup_s = self._wait(probe)

    def _wait(self, probe: list[str], timeout: float = 300) -> float:
        import httpx

        body = json.dumps({"term_ids": [probe], "k": 1})
        while time.perf_counter() - self.started_at < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"grlm serve exited with {self.process.returncode}")
            try:
                if (
                    httpx.post(
                        f"{self.url}/v1/ground", content=body, headers=JSON_HEADERS, timeout=5
                    ).status_code
                    == 200
                ):
                    return time.perf_counter() - self.started_at
            except httpx.TransportError:
                time.sleep(0.02)
        raise SystemExit("grlm serve did not answer in time")

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            kb = next(line.split()[1] for line in status if line.startswith("VmRSS"))
        return int(kb) * 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _percentiles(latencies: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.asarray(latencies) * 1e3, [50, 95, 99])
    return float(p50), float(p95), float(p99)


class RawClient:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams, one connection per worker: a
    few tens of microseconds of client CPU per request where httpx takes several hundred, so on
    a 2-core machine the server, not the load generator, is what gets measured."""

    def __init__(self, url: str, connections: int):
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.pool: asyncio.Queue = asyncio.Queue()
        self.connections = connections

    async def __aenter__(self):
        for _ in range(self.connections):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *exc):
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()

    async def post(self, path: str, content: bytes, headers=None):
        reader, writer = await self.pool.get()
        try:
            writer.write(
                b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s"
                % (path.encode(), self.host.encode(), len(content), content)
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        finally:
            self.pool.put_nowait((reader, writer))
        return _Status(int(head[9:12]))


class _Status:
    __slots__ = ("status_code",)

    def __init__(self, status_code: int):
        self.status_code = status_code


def _client(kind: str, url: str, connections: int):
    import httpx

    if kind == "raw":
        return RawClient(url, connections)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=30)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _post(client, body: bytes):
    """The status of one /v1/ground request, or "client timeout" (the load generator's own
    limit: its connection pool or the answer took over 30 s)."""
    import httpx

    try:
        return (await client.post("/v1/ground", content=body, headers=JSON_HEADERS)).status_code
    except (httpx.TimeoutException, asyncio.TimeoutError):
        return "client timeout"
    except (httpx.TransportError, ConnectionError) as error:
        return f"connection error ({type(error).__name__})"


async def closed_loop(
    url: str,
    bodies: list[bytes],
    *,
    clients: int,
    seconds: float,
    max_requests: int,
    kind: str = "httpx",
) -> dict:
    """`clients` workers each sending one request after the other for `seconds`, at most
    `max_requests` in all."""
    latencies, statuses = [], Counter()
    async with _client(kind, url, clients) as client:
        counter = itertools.count()
        started = time.perf_counter()
        stop = started + seconds

        async def worker():
            while time.perf_counter() < stop:
                i = next(counter)
                if i >= max_requests:
                    return
                sent = time.perf_counter()
                status = await _post(client, bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - sent)
                statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        "statuses": statuses,
    }


async def open_loop(
    url: str, bodies: list[bytes], *, rate: float, seconds: float, kind: str = "httpx"
) -> dict:
    """Requests sent on a fixed schedule, `rate` per second, whatever the answers do; each
    latency counts from the scheduled send time. A request that could not even be sent by
    three times `seconds` (a client too slow for the rate) counts as "unsent"."""
    count = int(rate * seconds)
    latencies, statuses = [], Counter()
    async with _client(kind, url, 64) as client:
        start = time.perf_counter() + 0.2
        give_up = start + 3 * seconds

        async def one(i: int):
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if time.perf_counter() > give_up:
                statuses["unsent"] += 1
                return
            status = await _post(client, bodies[i % len(bodies)])
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] += 1

        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        "statuses": statuses,
    }


def _check_answers(url: str, grounder: Grounder, queries: list[list[str]]) -> None:
    """The server's answers equal the in-process Grounder's (before anything is timed)."""
    import httpx

    answer = httpx.post(f"{url}/v1/ground", json={"term_ids": queries, "k": K}, timeout=60)
    expected = [
        {"hit": r.hit, "items": list(r.item_ids), "scores": list(r.scores)}
        for r in grounder.ground_batch(queries, k=K)
    ]
    if answer.json()["results"] != expected:
        raise SystemExit("the server's answers differ from the in-process Grounder's")


def _update_costs(
    name: str, index: Path, url: str, *, length: int, vocab: list[str], count: int = 100
) -> list[str]:
    """One-item add and remove: in process (Grounder.add_items / remove_items on the loaded
    index, then compact()), and over HTTP with no other load, each add checked to be visible to
    the next request."""
    import httpx

    rng = random.Random(5)
    grounder = Grounder.load(index)
    adds, removes = [], []
    for n in range(count):
        terms = [rng.choice(vocab) for _ in range(length)]
        started = time.perf_counter()
        grounder.add_items({f"bench-{n}": terms})
        adds.append(time.perf_counter() - started)
        started = time.perf_counter()
        grounder.remove_items([f"bench-{n}"])
        removes.append(time.perf_counter() - started)
    started = time.perf_counter()
    grounder.compact()
    compact_s = time.perf_counter() - started
    auth = {"Authorization": f"Bearer {TOKEN}"}
    http_adds, http_removes = [], []
    with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
        for n in range(count // 2):
            terms = [rng.choice(vocab) for _ in range(length)]
            started = time.perf_counter()
            put = client.put("/v1/items", json={"items": {f"http-{n}": terms}})
            http_adds.append(time.perf_counter() - started)
            seen = client.post("/v1/ground", json={"term_ids": [terms], "k": 1000}).json()
            if put.status_code != 200 or f"http-{n}" not in seen["results"][0]["items"]:
                raise SystemExit(f"an added item was not visible to the next request: {put.text}")
            started = time.perf_counter()
            client.request("DELETE", "/v1/items", json={"item_ids": [f"http-{n}"]})
            http_removes.append(time.perf_counter() - started)

    def ms(values):
        p50, _, p99 = _percentiles(values)
        return f"{p50:.3f} / {p99:.3f} ms"

    return [name, ms(adds), ms(removes), f"{compact_s:.2f} s", ms(http_adds), ms(http_removes)]


def bench_catalog(
    name: str,
    term_ids: dict,
    vocab: list[str],
    args,
    rows: list,
    extra_rows: list,
    update_rows: list,
) -> None:
    grounder = Grounder(term_ids)
    rng = random.Random(3)
    ids = list(term_ids)
    direct = [list(term_ids[rng.choice(ids)]) for _ in range(2048)]
    queries = [q for pair in zip(direct, perturbed_queries(term_ids, vocab, 2048)) for q in pair]
    singles = [json.dumps({"term_ids": [q], "k": K}).encode() for q in queries]
    batches = [
        json.dumps({"term_ids": queries[i : i + 64], "k": K}).encode()
        for i in range(0, len(queries) - 63, 64)
    ]

    # In-process, same queries: the baseline of every HTTP row.
    cycle = itertools.cycle(queries)
    single_s = measure(lambda: grounder.ground_batch([next(cycle)], k=K), repeat=3)
    batch_cycle = itertools.cycle(range(0, len(queries) - 63, 64))
    batch_s = measure(
        lambda: grounder.ground_batch(queries[(i := next(batch_cycle)) : i + 64], k=K), repeat=3
    )

    with tempfile.TemporaryDirectory() as folder:
        index = Path(folder) / "catalog.grlm"
        grounder.save(index)
        started = time.perf_counter()
        Grounder.load(index)
        load_s = time.perf_counter() - started
        server = Server(index, queries[0])
        try:
            _check_answers(server.url, grounder, queries[:256])
            one = asyncio.run(
                closed_loop(
                    server.url,
                    singles,
                    clients=1,
                    kind="raw",
                    seconds=args.seconds / 2,
                    max_requests=20_000,
                )
            )
            p50_one = _percentiles(one["latencies"])[0]
            for kind in args.client:
                for label, bodies, per in (("1", singles, 1), ("64", batches, 64)):
                    cpu = _cpu_seconds(server.process.pid)
                    run = asyncio.run(
                        closed_loop(
                            server.url,
                            bodies,
                            clients=args.clients,
                            seconds=args.seconds,
                            max_requests=args.max_requests,
                            kind=kind,
                        )
                    )
                    cpu = _cpu_seconds(server.process.pid) - cpu
                    in_process = single_s if per == 1 else batch_s
                    p50, p95, p99 = _percentiles(run["latencies"])
                    rate = run["requests"] / run["seconds"]
                    errors = (
                        ", ".join(f"{n} {s}" for s, n in run["statuses"].items() if s != 200) or "0"
                    )
                    rows.append(
                        [
                            name,
                            kind,
                            f"closed, {args.clients} clients",
                            label,
                            f"{rate:,.0f}",
                            f"{rate * per:,.0f}",
                            f"{p50:.2f}",
                            f"{p95:.2f}",
                            f"{p99:.2f}",
                            f"{cpu / run['requests'] * 1e6:,.0f} µs",
                            f"{per / in_process:,.0f}",
                            str(errors),
                        ]
                    )
                if kind == "httpx":  # it cannot send 1,000 requests/s on 2 cores: see README
                    continue
                paced = asyncio.run(
                    open_loop(
                        server.url, singles, rate=args.rate, seconds=args.rate_seconds, kind=kind
                    )
                )
                p50, p95, p99 = _percentiles(paced["latencies"])
                errors = (
                    ", ".join(f"{n} {s}" for s, n in paced["statuses"].items() if s != 200) or "0"
                )
                achieved = paced["requests"] / paced["seconds"]
                rows.append(
                    [
                        name,
                        kind,
                        f"open, {args.rate:,.0f}/s",
                        "1",
                        f"{achieved:,.0f}",
                        f"{achieved:,.0f}",
                        f"{p50:.2f}",
                        f"{p95:.2f}",
                        f"{p99:.2f}",
                        "",
                        f"{1 / single_s:,.0f}",
                        str(errors),
                    ]
                )
            update_rows.append(
                _update_costs(
                    name,
                    index,
                    server.url,
                    length=max(len(t) for t in term_ids.values()),
                    vocab=vocab,
                )
            )
            extra_rows.append(
                [
                    name,
                    f"{len(term_ids):,}",
                    f"{single_s * 1e6:.1f} µs",
                    f"{p50_one:.3f} ms",
                    f"{p50_one - single_s * 1e3:.3f} ms",
                    f"{load_s:.2f} s",
                    f"{server.startup_s:.2f} s",
                ]
            )
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100,000 synthetic items, 2 s runs, a 10 s soak"
    )
    parser.add_argument("--synthetic-items", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--client",
        nargs="+",
        choices=["httpx", "raw"],
        default=["httpx", "raw"],
        help="load generators: httpx, and a minimal keep-alive client",
    )
    parser.add_argument("--seconds", type=float, default=None, help="each closed-loop run")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rate-seconds", type=float, default=None)
    parser.add_argument("--soak-seconds", type=float, default=None)
    parser.add_argument("--update-interval", type=float, default=0.1)
    parser.add_argument(
        "--soak-version-checks",
        type=int,
        default=40,
        help="catalog versions rebuilt from scratch to check sampled answers",
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-soak", action="store_true")
    args = parser.parse_args()
    args.synthetic_items = (
        args.synthetic_items
        if args.synthetic_items is not None
        else (100_000 if args.quick else 1_000_000)
    )
    args.seconds = args.seconds or (2.0 if args.quick else 8.0)
    args.rate_seconds = args.rate_seconds or (2.0 if args.quick else 10.0)
    args.soak_seconds = args.soak_seconds or (10.0 if args.quick else 60.0)

    print(
        f"bench_serve — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC — "
        f"{machine()}, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    catalogs = []
    if BEAUTY.exists():
        beauty = load_term_ids(BEAUTY)
        catalogs.append(("Beauty", beauty, sorted({t for ts in beauty.values() for t in ts})))
    else:
        print(f"{BEAUTY} is absent: Beauty skipped")
    if args.synthetic_items:
        synthetic, vocab = synthetic_catalog(args.synthetic_items)
        catalogs.append((f"Zipf {args.synthetic_items:,}", synthetic, vocab))
    if not args.skip_load:
        rows, extra_rows, update_rows = [], [], []
        for name, term_ids, vocab in catalogs:
            bench_catalog(name, term_ids, vocab, args, rows, extra_rows, update_rows)
        print_table(
            "HTTP load (loopback, k=10; latencies in ms; in-process: ground_batch on "
            "the same Term IDs, same run)",
            [
                "catalog",
                "client",
                "load",
                "Term IDs / request",
                "req/s",
                "Term IDs/s",
                "p50",
                "p95",
                "p99",
                "server CPU / request",
                "in-process Term IDs/s",
                "non-200",
            ],
            rows,
        )
        print_table(
            "Per request, one client; start-up",
            [
                "catalog",
                "items",
                "in-process ground_batch([q])",
                "HTTP p50 (raw client)",
                "HTTP overhead",
                "Grounder.load",
                "serve start to first answer",
            ],
            extra_rows,
        )
        print_table(
            "One-item updates, p50 / p99 (the HTTP add checked visible to the next request)",
            [
                "catalog",
                "add_items, in process",
                "remove_items, in process",
                "compact() after them",
                "PUT /v1/items",
                "DELETE /v1/items",
            ],
            update_rows,
        )
    if not args.skip_soak:
        from bench_serve_soak import soak

        name, term_ids, vocab = catalogs[0]
        soak(name, term_ids, vocab, args, Server, TOKEN)


if __name__ == "__main__":
    main()
