"""Threads against the compiled core: a crash must fail a test, so each case runs in a child
Python process; the child prints "ok" when every answer it checked was right."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Address-space limits (used to make thread creation fail) do not mix with sanitizer shadow
# memory; scripts/sanitize.sh sets this variable.
UNDER_SANITIZER = bool(os.environ.get("GRLM_SANITIZER"))


def run_child(code: str, timeout: float = 120) -> str:
    """Runs code in a fresh interpreter with the same grlm on its path; returns its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode}\n"
        f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}"
    )
    return proc.stdout


def test_ground_batch_survives_queries_changed_by_another_thread():
    # Before: ground_batch kept views into the caller's str objects after releasing the GIL; a
    # thread emptying the lists freed them under the running batch (SIGSEGV or wrong answers).
    out = run_child("""
        import threading, time
        from grlm.ground import Grounder

        catalog = {f"i{n}": [f"a{n % 7}", f"b{n % 11}", f"c{n % 13}"] for n in range(300)}
        grounder = Grounder(catalog, mode="bag")
        def make_queries():
            big = "x" * 100_000  # long terms make the batch last while the lists change
            return [[f"a{q % 7}", f"b{q % 11}" + big * (q % 3 == 0), f"c{q % 5}"]
                    for q in range(1000)]
        expected = [(r.hit, r.item_ids) for r in grounder.ground_batch(make_queries(), k=5,
                                                                       num_threads=2)]
        for run in range(3):
            queries = make_queries()
            started = threading.Event()
            stop = False
            def vandal():
                started.wait()
                time.sleep(0.02)  # by now the batch runs with the GIL released
                while not stop:
                    for q in queries:
                        q.clear()
                        q.extend(["z" * 1000, "garbage"])  # reuse the freed memory
                    time.sleep(0)
            thread = threading.Thread(target=vandal)
            thread.start()
            started.set()
            got = grounder.ground_batch(queries, k=5, num_threads=2)
            stop = True
            thread.join()
            # The batch grounds the queries as they were when it was called.
            assert [(r.hit, r.item_ids) for r in got] == expected, run
        print("ok")
    """)
    assert out.strip() == "ok"


def test_token_trie_readers_alongside_a_writer():
    # Before: add / export / compact changed the arrays in place while readers walked them with
    # the GIL released (SIGSEGV 4 runs of 4 with export). Now readers use immutable snapshots.
    out = run_child("""
        import threading, time
        from grlm.decoding import TokenTrie

        EOS = 1
        stable = {f"s{n}": [2 + n % 5, 10 + n % 17, 40 + n, EOS] for n in range(200)}
        trie = TokenTrie.from_sequences(stable, EOS)
        deadline = time.monotonic() + 3.0
        errors = []
        def reader(seed):
            n = seed
            while time.monotonic() < deadline:
                key = f"s{n % 200}"
                seq = stable[key]
                if key not in trie.items_of(seq):
                    errors.append(("items_of", key))
                if seq[1] not in trie.allowed_after(seq[:1]):
                    errors.append(("allowed_after", key))
                if trie.walk(seq) < 0:
                    errors.append(("walk", key))
                n += 7
        def writer():
            n = 0
            while time.monotonic() < deadline:
                key = f"v{n}"
                trie.add(key, [3000 + n % 50, 5000 + n, EOS])  # a new path: structural
                if n % 3 == 0:
                    trie.export()
                if n % 2 == 0:
                    trie.remove(key)
                n += 1
        threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
        threads.append(threading.Thread(target=writer))
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors[:5]
        print("ok")
    """)
    assert out.strip() == "ok"


def test_native_trie_readers_alongside_a_native_writer():
    # The same race on the native trie directly, where the writer's add_batch and export release
    # the GIL for the whole change.
    out = run_child("""
        import threading, time
        import numpy as np
        from grlm import _core

        EOS = 1
        trie = _core.TokenTrie(EOS)
        n_stable = 2000
        stable = np.stack([np.arange(n_stable) % 7 + 2, np.arange(n_stable) + 100,
                           np.full(n_stable, EOS)], axis=1).astype(np.int32)
        trie.add_batch(np.arange(n_stable, dtype=np.int64), stable.reshape(-1),
                       np.arange(n_stable + 1, dtype=np.int64) * 3)
        deadline = time.monotonic() + 3.0
        errors = []
        def reader(seed):
            i = seed
            while time.monotonic() < deadline:
                seq = stable[i % n_stable]
                node = trie.walk(seq)
                if node < 0 or (i % n_stable) not in trie.items_at(node):
                    errors.append(i % n_stable)
                i += 13
        def writer():
            item = n_stable
            while time.monotonic() < deadline:
                tokens = np.array([9, 100000 + item, 200000 + item, EOS], dtype=np.int32)
                trie.add_batch(np.array([item], dtype=np.int64), tokens,
                               np.array([0, 4], dtype=np.int64))
                trie.export()
                if item > n_stable:
                    trie.remove(item - 1)  # the previous volatile item, never a stable one
                item += 1
        threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
        threads.append(threading.Thread(target=writer))
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors[:5]
        print("ok")
    """)
    assert out.strip() == "ok"


@pytest.mark.skipif(UNDER_SANITIZER, reason="address-space limits break sanitizer runtimes")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS semantics")
def test_thread_creation_failure_is_a_python_exception():
    # Before: "terminate called without an active exception", exit 134. A low address-space
    # limit makes the 8 MB thread stacks fail to map, which is what a low `ulimit -u` does too.
    out = run_child("""
        import resource
        from grlm.errors import ResourceError
        from grlm.ground import Grounder

        grounder = Grounder({f"i{n}": [f"a{n % 7}", f"b{n}"] for n in range(100)})
        queries = [[f"a{q % 7}", "zzz"] for q in range(64 * 200)]
        with open("/proc/self/status") as status:
            vm = next(int(l.split()[1]) for l in status if l.startswith("VmSize:")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 48 * 2**20, resource.RLIM_INFINITY))
        try:
            grounder.ground_batch(queries, k=3, num_threads=200)
        except ResourceError as error:
            assert "thread" in str(error), error
        else:
            raise AssertionError("no ResourceError")
        # The process goes on: one thread needs no new stack.
        assert len(grounder.ground_batch(queries[:10], k=3, num_threads=1)) == 10
        print("ok")
    """)
    assert out.strip() == "ok"
