"""A writer killed with SIGKILL at random points loses nothing it acknowledged, and leaves no
change half applied, on both backends: 20 kills of a process streaming commits (and writing a
checkpoint every 10) into one store, each followed by a check of the whole store and a start
from it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from _store_writer import change_of
from grlm.ground import Grounder
from grlm.store import create_store, open_store, restore

TRIALS = 20
# The longest a trial may wait for its writer's next acknowledgement (a start included).
ACK_TIMEOUT_S = 300

WRITER = Path(__file__).with_name("_store_writer.py")


def run_and_kill(url: str, trial: int, acks_wanted: int, rng: random.Random) -> list[tuple]:
    """Starts a writer, reads ``acks_wanted`` acknowledgements, SIGKILLs it a random few
    milliseconds later (often in the middle of the next commit or a checkpoint); returns the
    acknowledgements ``(version, n)``."""
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
            acks.append((version, n))
            assert time.monotonic() < deadline, "the writer is too slow to be tested"
        time.sleep(rng.uniform(0, 0.004))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        writer.stderr.close()
    return acks


def wait_for_sessions_to_end(url: str, timeout: float = 120.0) -> None:
    """A PostgreSQL server finishes what a killed client had sent (a COMMIT may still land, as
    an unacknowledged change): wait until the writer's sessions are gone before looking."""
    if not url.startswith("postgresql"):
        return  # a SQLite writer's work ends with its process
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as connection:
        while connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed writer's sessions did not end"
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


def test_a_killed_writer_loses_no_acknowledged_change(store_url):
    rng = random.Random(23)
    initial = {"seed": ["w0", "v0", "u0"]}
    create_store(store_url, Grounder(initial)).close()
    acknowledged: list[tuple[int, int, int]] = []  # (version, trial, n)
    for trial in range(TRIALS):
        acks = run_and_kill(store_url, trial, rng.randint(1, 25), rng)
        acknowledged += [(version, trial, n) for version, n in acks]
        wait_for_sessions_to_end(store_url)
        with open_store(store_url) as store:
            head = store.head_version()
            assert head >= acknowledged[-1][0]
            log = store.changes_since(0)
            assert [c.version for c in log] == list(range(1, head + 1))  # no gap, no loss
            by_version = {c.version: c.change for c in log}
            for version, each_trial, n in acknowledged:
                assert by_version[version] == change_of(each_trial, n)
            # No change is half applied: the items are exactly what the log makes.
            catalog = store.catalog()
            assert catalog.version == head
            expected = replayed(initial, store)
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
