"""The soak of bench_serve.py: `grlm serve` grounding under catalog updates.

Clients ground continuously (1- and 64-Term-ID requests) while an updater adds, replaces and
removes one item every `--update-interval` seconds through PUT/DELETE /v1/items. Reported: the
requests and their statuses (no 5xx allowed), the update latency over HTTP, the server's RSS
from the end of the warm-up to the end (growth at most 10%), and wrong answers:
- sampled answers during the soak, each against a Grounder built from scratch on the catalog
  at the version the answer names (replayed from the update log);
- after the last update, answers to every changed item's Term ID and to random queries against a
  Grounder built from the final catalog.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from grlm.ground import Grounder
from timing import print_table

K = 10
JSON_HEADERS = {"Content-Type": "application/json"}
SAMPLE_EVERY = 5  # one answer in this many is kept for the check against its version


def _as_json(result) -> dict:
    return {"hit": result.hit, "items": list(result.item_ids), "scores": list(result.scores)}


def _apply(catalog: dict, op: tuple) -> None:
    kind, payload = op
    if kind == "put":
        catalog.update(payload)
    else:
        for item in payload:
            del catalog[item]


async def _soak(url: str, token: str, term_ids: dict, vocab: list[str], args, server) -> dict:
    import httpx

    rng = random.Random(7)
    length = max(len(t) for t in term_ids.values())
    current = dict(term_ids)  # the catalog as the updater last left it
    log: list[tuple[int, tuple]] = []  # (version after, op)
    samples: list[tuple[int, list[str], dict]] = []
    statuses, update_latencies, update_errors = Counter(), [], []
    auth = {"Authorization": f"Bearer {token}", **JSON_HEADERS}
    stop_at = time.perf_counter() + args.soak_seconds
    rss: dict[str, int] = {}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        def random_query() -> list[str]:
            terms = (
                list(current[rng.choice(ids)])
                if rng.random() < 0.5
                else [rng.choice(vocab) for _ in range(length)]
            )
            return terms

        async def updater():
            serial = 0
            while time.perf_counter() < stop_at:
                await asyncio.sleep(args.update_interval)
                kind = rng.choice(["add", "update", "remove"])
                if kind == "remove" and len(current) > 1:
                    victim = rng.choice(ids)
                    op = ("delete", [victim])
                    body = {"item_ids": [victim]}
                else:
                    item = f"soak-{serial}" if kind == "add" else rng.choice(ids)
                    serial += 1
                    terms = (
                        list(current[rng.choice(ids)])
                        if rng.random() < 0.3
                        else [rng.choice(vocab) for _ in range(length)]
                    )  # collisions, too
                    op = ("put", {item: terms})
                    body = {"items": {item: terms}}
                sent = time.perf_counter()
                response = await client.request(
                    "DELETE" if op[0] == "delete" else "PUT",
                    "/v1/items",
                    content=json.dumps(body),
                    headers=auth,
                )
                update_latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    update_errors.append(f"{response.status_code} {response.text[:200]}")
                    continue
                _apply(current, op)
                ids[:] = list(current)
                log.append((response.json()["catalog_version"], op))
            return serial

        async def client_worker(w: int):
            count = 0
            while time.perf_counter() < stop_at:
                queries = [random_query() for _ in range(1 if w % 2 else 64)]
                response = await client.post("/v1/ground", json={"term_ids": queries, "k": K})
                statuses[response.status_code] += 1
                count += 1
                if response.status_code == 200 and count % SAMPLE_EVERY == 0:
                    answer = response.json()
                    samples.append((answer["catalog_version"], queries[0], answer["results"][0]))

        async def rss_probe():
            await asyncio.sleep(min(5.0, args.soak_seconds / 4))  # warm-up: first allocations
            rss["start"] = server.rss_bytes()
            peak = rss["start"]
            while time.perf_counter() < stop_at:
                await asyncio.sleep(0.5)
                peak = max(peak, server.rss_bytes())
            rss["end"], rss["peak"] = server.rss_bytes(), peak

        ids = list(current)
        started_version = (await client.get("/healthz")).json()["catalog_version"]
        started = time.perf_counter()
        await asyncio.gather(updater(), rss_probe(), *(client_worker(w) for w in range(8)))
        elapsed = time.perf_counter() - started

        # After the last update: every changed item's Term ID and random queries, against a
        # Grounder built from the final catalog.
        changed = {item for _, (kind, payload) in log for item in payload if item in current}
        final_queries = [list(current[item]) for item in sorted(changed)]
        final_queries += [random_query() for _ in range(512)]
        final = Grounder(current)
        wrong_final = 0
        for start in range(0, len(final_queries), 64):
            chunk = final_queries[start : start + 64]
            answer = (await client.post("/v1/ground", json={"term_ids": chunk, "k": K})).json()
            wrong_final += sum(
                a != _as_json(e) for a, e in zip(answer["results"], final.ground_batch(chunk, k=K))
            )
    return {
        "elapsed": elapsed,
        "statuses": statuses,
        "log": log,
        "samples": samples,
        "start_version": started_version,
        "update_latencies": update_latencies,
        "update_errors": update_errors,
        "rss": rss,
        "final_checked": len(final_queries),
        "wrong_final": wrong_final,
    }


def _check_samples(term_ids: dict, result: dict, versions: int) -> tuple[int, int]:
    """(checked, wrong) sampled answers, each against a Grounder built on the catalog at the
    version it names (a few versions, chosen at random, each rebuilt from the update log)."""
    by_version: dict[int, list] = {}
    for version, query, answer in result["samples"]:
        by_version.setdefault(version, []).append((query, answer))
    chosen = sorted(random.Random(8).sample(sorted(by_version), min(versions, len(by_version))))
    catalog, log, position, checked, wrong = dict(term_ids), result["log"], 0, 0, 0
    for version in chosen:
        while position < len(log) and log[position][0] <= version:
            _apply(catalog, log[position][1])
            position += 1
        grounder = Grounder(catalog)
        for query, answer in by_version[version]:
            checked += 1
            wrong += answer != _as_json(grounder.ground(query, k=K))
    return checked, wrong


def soak(name: str, term_ids: dict, vocab: list[str], args, server_class, token: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        index = Path(folder) / "catalog.grlm"
        Grounder(term_ids).save(index)
        server = server_class(index, list(next(iter(term_ids.values()))))
        try:
            paths = __import__("httpx").get(f"{server.url}/openapi.json").json()["paths"]
            if "/v1/items" not in paths:
                print("\nsoak skipped: this server has no /v1/items (online updates)")
                return
            result = asyncio.run(_soak(server.url, token, term_ids, vocab, args, server))
        finally:
            server.stop()
    checked, wrong = _check_samples(term_ids, result, args.soak_version_checks)
    statuses = result["statuses"]
    five_xx = sum(n for s, n in statuses.items() if s >= 500)
    rss = result["rss"]
    growth = rss["end"] / rss["start"] - 1
    updates = np.asarray(result["update_latencies"]) * 1e3
    print_table(
        f"Soak: {name}, {result['elapsed']:.0f} s, an update every "
        f"{args.update_interval * 1e3:.0f} ms, 8 clients",
        [
            "requests",
            "statuses",
            "5xx",
            "updates (ok / refused)",
            "update p50 / p99",
            "wrong answers (sampled, by version)",
            "wrong answers (final catalog)",
            "RSS start → end (peak)",
            "RSS growth",
        ],
        [
            [
                f"{sum(statuses.values()):,}",
                dict(sorted(statuses.items())),
                five_xx,
                f"{len(result['log'])} / {len(result['update_errors'])}",
                f"{np.percentile(updates, 50):.2f} / {np.percentile(updates, 99):.2f} ms",
                f"{wrong} of {checked}",
                f"{result['wrong_final']} of {result['final_checked']}",
                (
                    f"{rss['start'] / 2**20:.0f} → {rss['end'] / 2**20:.0f} "
                    f"({rss['peak'] / 2**20:.0f}) MiB"
                ),
                f"{growth:+.1%}",
            ]
        ],
    )
    for error in result["update_errors"][:5]:
        print(f"refused update: {error}")
    verdict = five_xx == 0 and wrong == 0 and result["wrong_final"] == 0 and growth <= 0.10
    print(
        f"soak {'PASSED' if verdict else 'FAILED'}: zero 5xx, zero wrong answers, RSS growth "
        f"at most 10%"
    )
