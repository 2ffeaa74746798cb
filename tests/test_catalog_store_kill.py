"""A process killed with SIGKILL at random points loses nothing it acknowledged, and leaves no
change half applied, on both backends. Two kinds of 20 kills each, every one followed by a check
of the whole store and a start from it:

- a writer streaming commits through a follower (and writing a checkpoint every 10);
- ``grlm serve --store`` taking a stream of ``PUT``/``DELETE /v1/items`` over HTTP (each trial
  starts the server again on the store the previous one was killed on).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _store_writer import change_of
from grlm.ground import Grounder
from grlm.ground.updates import CatalogChange
from grlm.store import create_store, open_store, restore
from grlm.store.changes import encode_change

TRIALS = 20
# The longest a trial may wait for its writer's next acknowledgement (a start included).
ACK_TIMEOUT_S = 300
INITIAL = {"seed": ["w0", "v0", "u0"]}

WRITER = Path(__file__).with_name("_store_writer.py")


def run_and_kill(url: str, trial: int, acks_wanted: int, rng: random.Random) -> list[tuple]:
    """Starts a writer, reads ``acks_wanted`` acknowledgements, SIGKILLs it a random few
    milliseconds later (often in the middle of the next commit or a checkpoint); returns the
    acknowledgements ``(version, change)``."""
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), url, str(trial)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acks = []
    try:
        os.set_blocking(writer.stdout.fileno(), True)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while len(acks) < acks_wanted:
            line = writer.stdout.readline()
            assert line, f"the writer stopped: {writer.stderr.read()[-2000:]}"
            version, n = map(int, line.split())
            acks.append((version, change_of(trial, n)))
            assert time.monotonic() < deadline, "the writer is too slow to be tested"
        time.sleep(rng.uniform(0, 0.004))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        writer.stderr.close()
    return acks


def requests_of(trial: int, n: int) -> list[tuple[str, dict, CatalogChange]]:
    """What the n-th step of a server trial sends, each with the change it commits: a PUT of a
    new item, and every third step a DELETE of an earlier one."""
    item, terms = f"h{trial}-{n}", [f"w{n % 7}", f"v{n % 5}", f"u{n % 3}"]
    sent = [("PUT", {"items": {item: terms}}, CatalogChange(upsert={item: terms}))]
    if n >= 2 and n % 3 == 0:
        gone = f"h{trial}-{n - 2}"
        sent.append(("DELETE", {"item_ids": [gone]}, CatalogChange(remove=[gone])))
    return sent


def serve_and_kill(url: str, trial: int, acks_wanted: int, rng: random.Random) -> list[tuple]:
    """Starts ``grlm serve --store url``, streams changes to it until ``acks_wanted`` are
    acknowledged, SIGKILLs it a random few milliseconds later while the next request is in
    flight; returns the acknowledgements ``(version, change)``."""
    import httpx
    from _serve_apps import TOKEN
    from _serve_process import serve_process

    process, base = serve_process(["--store", url], {"GRLM_ADMIN_TOKEN": TOKEN})
    killer = threading.Timer(rng.uniform(0, 0.004), process.kill)
    acks: list[tuple] = []
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for n in range(10 * acks_wanted):  # bounded: the kill ends it long before
                for method, body, change in requests_of(trial, n):
                    if len(acks) == acks_wanted and not killer.is_alive():
                        killer.start()
                    try:
                        answer = client.request(
                            method,
                            "/v1/items",
                            json=body,
                            headers={"Authorization": f"Bearer {TOKEN}"},
                        )
                    except httpx.TransportError:
                        return acks  # killed: this request was not acknowledged
                    assert answer.status_code == 200, answer.text
                    acks.append((answer.json()["catalog_version"], change))
        raise AssertionError("the server was not killed")
    finally:
        killer.cancel()
        process.kill()
        process.wait()
        process.stderr.close()


def wait_for_sessions_to_end(url: str, timeout: float = 120.0) -> None:
    """A PostgreSQL server finishes what a killed client had sent (a COMMIT may still land, as
    an unacknowledged change): wait until the killed process's sessions are gone before
    looking."""
    if not url.startswith("postgresql"):
        return  # a SQLite writer's work ends with its process
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as connection:
        while connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed process's sessions did not end"
            time.sleep(0.05)


def replayed(initial: dict, store) -> dict:
    """The catalog ``{id: (terms, prior)}`` the store's change log makes of ``initial``."""
    catalog = {i: (terms, 0.0) for i, terms in initial.items()}
    for committed in store.changes_since(0):
        change = committed.change
        for item_id in change.remove:
            del catalog[item_id]
        for item_id, terms in change.upsert.items():
            kept = catalog[item_id][1] if item_id in catalog else 0.0
            catalog[item_id] = (terms, change.priors.get(item_id, kept))
    return catalog


def assert_store_keeps(url: str, acknowledged: list[tuple[int, CatalogChange]]) -> None:
    """Every acknowledged change is in the store under its version, the log has no gap, the
    items are exactly what the log makes, and a start from the store holds them."""
    wait_for_sessions_to_end(url)
    with open_store(url) as store:
        head = store.head_version()
        assert head >= acknowledged[-1][0]
        log = store.changes_since(0)
        assert [c.version for c in log] == list(range(1, head + 1))  # no gap, no loss
        by_version = {c.version: c.change for c in log}
        for version, change in acknowledged:  # compared in the store's own encoding
            assert encode_change(by_version[version]) == encode_change(change)
        # No change is half applied: the items are exactly what the log makes.
        catalog = store.catalog()
        assert catalog.version == head
        expected = replayed(INITIAL, store)
        assert list(catalog.term_ids.items()) == [(i, t) for i, (t, _) in expected.items()]
        assert catalog.priors == {i: p for i, (_, p) in expected.items()}
        started = restore(store)  # from the newest checkpoint that survived, and replay
        assert started.version == head
        fresh = catalog.grounder()
        assert list(started.grounder.item_ids) == list(fresh.item_ids)
        queries = [["w1", "v2", "u0"], ["w3"], ["v4", "u1"]]
        assert [r.item_ids for r in started.grounder.ground_batch(queries, k=5)] == [
            r.item_ids for r in fresh.ground_batch(queries, k=5)
        ]


@pytest.mark.parametrize("killed", [run_and_kill, serve_and_kill], ids=["writer", "server"])
def test_a_killed_process_loses_no_acknowledged_change(store_url, killed):
    if killed is serve_and_kill:
        pytest.importorskip("fastapi")
        pytest.importorskip("httpx")
    rng = random.Random(23)
    create_store(store_url, Grounder(INITIAL)).close()
    acknowledged: list[tuple[int, CatalogChange]] = []
    for trial in range(TRIALS):
        acknowledged += killed(store_url, trial, rng.randint(1, 25), rng)
        assert_store_keeps(store_url, acknowledged)
