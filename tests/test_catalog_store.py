"""The catalog store (grlm.store), the same tests on SQLite and PostgreSQL (``store_url``):
versions, all-or-nothing commits, checkpoints and the start from them, followers, bad inputs."""

from __future__ import annotations

import fcntl
import math
import sqlite3
import threading

import pytest
from _catalog_stores import make_unreachable
from grlm.errors import (
    CatalogStoreError,
    ChangesPrunedError,
    InvalidInputError,
    StoreUnavailableError,
)
from grlm.ground import Grounder
from grlm.ground.updates import CatalogChange
from grlm.store import StoreFollower, create_store, open_store, restore

CATALOG = {
    "a": ["red", "lipstick", "matte"],
    "b": ["red", "perfume", "woody"],
    "c": ["blue", "serum", "face"],
    "d": ["green", "serum", "night"],
}
PRIORS = {"a": 1.0, "c": 2.5}
QUERIES = [
    ["red", "lipstick", "matte"],
    ["red", "serum"],
    ["serum"],
    ["blue", "perfume", "night"],
    ["new", "thing"],
    ["green"],
]


def new_store(url: str, catalog=CATALOG, priors=PRIORS):
    return create_store(url, Grounder(catalog, priors=priors))


def answers(grounder) -> list:
    return [(r.hit, r.item_ids, r.scores) for r in grounder.ground_batch(QUERIES, k=3)]


def assert_holds_store_catalog(grounder: Grounder, store) -> None:
    """``grounder`` holds the store's newest catalog: same items in the same order, and the
    answers of a Grounder built from scratch on it."""
    fresh = store.catalog().grounder()
    assert list(grounder.item_ids) == list(fresh.item_ids)
    assert answers(grounder) == answers(fresh)


def test_a_new_store_holds_the_catalog_as_version_0(store_url):
    with new_store(store_url) as store:
        assert store.head_version() == 0
        assert store.item_count() == len(CATALOG)
        catalog = store.catalog()
        assert catalog.version == 0
        assert catalog.term_ids == CATALOG
        assert catalog.priors == {"a": 1.0, "b": 0.0, "c": 2.5, "d": 0.0}
        assert store.config.mode == "positional" and store.config.term_id_length == 3
        assert [c.version for c in store.checkpoints()] == [0]
        assert store.changes_since(0) == []
    with open_store(store_url) as store:  # and it is there for the next process
        assert answers(restore(store).grounder) == answers(Grounder(CATALOG, priors=PRIORS))


def test_commits_take_the_next_versions_and_are_listed_in_order(store_url):
    with new_store(store_url) as store:
        changes = [
            CatalogChange(add={"e": ["Pink", "Blush"]}, priors={"e": 0.5}),
            CatalogChange(update={"a": ["red", "gloss"]}),
            CatalogChange(remove=["b"]),
            CatalogChange(upsert={"b": ["red", "perfume"], "c": ["blue", "serum"]}),
        ]
        assert [store.commit_changes(c) for c in changes] == [1, 2, 3, 4]
        assert store.head_version() == 4
        listed = store.changes_since(0)
        assert [c.version for c in listed] == [1, 2, 3, 4]
        assert listed[0].change.add == {"e": ["pink", "blush"]}  # stored normalized
        assert listed[0].change.priors == {"e": 0.5}
        assert [c.version for c in store.changes_since(2)] == [3, 4]
        assert [c.version for c in store.changes_since(1, limit=2)] == [2, 3]
        assert store.changes_since(4) == []
        assert all(c.committed_at > 0 for c in listed)
        catalog = store.catalog()
        # b was removed and added again: last; c was upserted in place; e keeps its prior.
        assert list(catalog.term_ids) == ["a", "c", "d", "e", "b"]
        assert catalog.term_ids["c"] == ["blue", "serum"]
        assert catalog.priors == {"a": 1.0, "c": 2.5, "d": 0.0, "e": 0.5, "b": 0.0}
        assert store.item_count() == 5


def test_the_steps_of_one_change_apply_in_order(store_url):
    with new_store(store_url) as store:
        # remove, then update, upsert, add: a removed item may be added again in one change
        version = store.commit_changes(
            CatalogChange(
                remove=["a"],
                add={"a": ["red", "lipstick"]},
                update={"c": ["blue", "cream"]},
                priors={"c": 7.0},
            )
        )
        assert version == 1
        catalog = store.catalog()
        assert list(catalog.term_ids) == ["b", "c", "d", "a"]
        assert catalog.priors["c"] == 7.0 and catalog.priors["a"] == 0.0
        follower = StoreFollower.restore(store)
        assert_holds_store_catalog(follower.grounder, store)


def refused_changes():
    too_long = ["w", "x", "y", "z"]  # the catalog's Term IDs have at most 3 terms
    return [
        (CatalogChange(remove=["nope"]), "'nope' is not in the catalog"),
        (CatalogChange(add={"e": ["x"]}, remove=["nope"]), "'nope'"),
        (CatalogChange(add={"a": ["x"]}), "'a' is already in the catalog"),
        (CatalogChange(update={"zz": ["x"]}), "'zz' is not in the catalog"),
        (CatalogChange(add={"e": ["x"], "f": too_long}), "'f'"),
        (CatalogChange(add={"e": ["ok", "  "]}), "empty"),
        (CatalogChange(add={"e": []}), "'e'"),
        (CatalogChange(remove=["a", "a"]), "'a' is listed twice"),
        (CatalogChange(remove=["a", "b", "c", "d", "e"]), "leave the catalog empty"),
        (CatalogChange(add={"e": ["x"]}, priors={"e": math.nan}), "not finite"),
        (CatalogChange(add={"e": ["x"]}, priors={"q": 1.0}), "'q'"),
        (CatalogChange(), "empty change"),
    ]


@pytest.mark.parametrize(("change", "named"), refused_changes())
def test_a_refused_change_commits_nothing(store_url, change, named):
    with new_store(store_url) as store:
        store.commit_changes(CatalogChange(add={"e": ["pink"]}))
        before = store.catalog()
        with pytest.raises(InvalidInputError, match=named):
            store.commit_changes(change)
        assert store.head_version() == 1  # the version did not move
        assert [c.version for c in store.changes_since(0)] == [1]
        assert store.catalog() == before
        assert store.commit_changes(CatalogChange(remove=["e"])) == 2  # and no gap follows


def test_commits_from_many_writers_get_distinct_consecutive_versions(store_url):
    with new_store(store_url) as first:
        stores = [first] + [open_store(store_url) for _ in range(2)]
        versions: list[int] = []

        def write(store, writer: int) -> None:
            for n in range(15):
                change = CatalogChange(upsert={f"w{writer}-{n}": ["x", str(n)]})
                versions.append(store.commit_changes(change))

        threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(versions) == list(range(1, 46))
        assert first.item_count() == len(CATALOG) + 45
        for store in stores[1:]:
            store.close()


def test_a_start_loads_the_newest_checkpoint_and_replays_only_later_changes(store_url):
    with new_store(store_url) as store:
        follower = StoreFollower.restore(store)
        for n in range(5):
            follower.commit(CatalogChange(upsert={f"n{n}": ["new", str(n)]}))
        checkpoint = follower.write_checkpoint()
        assert checkpoint is not None and checkpoint.version == 5
        for n in range(3):
            follower.commit(CatalogChange(update={"a": ["red", str(n)]}))
        follower.commit(CatalogChange(remove=["n0"]))
        restored = restore(store)
        assert restored.checkpoint == checkpoint
        assert restored.version == 9 and restored.replayed == 4 and restored.skipped == ()
        assert_holds_store_catalog(restored.grounder, store)
        assert follower.write_checkpoint() == store.checkpoints()[0]  # written once per version


def test_a_start_replays_a_long_run_with_one_rebuild(store_url, monkeypatch):
    import grlm.ground.updates
    import grlm.store.replay

    for module in (grlm.ground.updates, grlm.store.replay):  # read at construction, at replay
        monkeypatch.setattr(module, "DEFAULT_COMPACT_THRESHOLD", 4)
    entered = []
    once = Grounder._compacting_once
    monkeypatch.setattr(Grounder, "_compacting_once", lambda g: entered.append(g) or once(g))
    with new_store(store_url) as store:
        store.commit_changes(CatalogChange(add={"e": ["pink"]}))
        short = restore(store)  # one pending item: it stays pending, nothing is rebuilt
        assert entered == [] and short.grounder.update_stats["pending"] == 1
        for n in range(6):
            store.commit_changes(CatalogChange(upsert={f"n{n}": ["new", str(n)]}))
        store.commit_changes(CatalogChange(remove=["a", "n0"]))
        started = restore(store)  # 1 removal + 6 upserts > 4: one rebuild at the end
        assert entered == [started.grounder] and started.grounder.update_stats["pending"] == 0
        assert started.version == 8 and started.replayed == 8
        assert_holds_store_catalog(started.grounder, store)
        started.grounder.add_items({"f": ["teal"]})  # the usual threshold again: stays pending
        assert started.grounder.update_stats["pending"] == 1


def damage_newest_checkpoint(store) -> None:
    """Flips bytes in the middle of the newest checkpoint (its size stays the same)."""
    newest = store.checkpoints()[0]
    if store.dialect == "sqlite":
        with open(newest.location, "r+b") as stream:
            stream.seek(newest.size // 2)
            stream.write(b"\xff\x00\xff\x00")
        return
    with store._transaction(write=True) as cursor:
        cursor.execute(
            "UPDATE grlm_checkpoints SET data = overlay(data placing ? from ?) WHERE version = ?",
            (b"\xff\x00\xff\x00", newest.size // 2, newest.version),
        )


def remove_newest_checkpoint(store) -> None:
    newest = store.checkpoints()[0]
    if store.dialect == "sqlite":
        import os

        os.unlink(newest.location)
        return
    with store._transaction(write=True) as cursor:
        cursor.execute(
            "UPDATE grlm_checkpoints SET data = NULL WHERE version = ?", (newest.version,)
        )


@pytest.mark.parametrize("fault", [damage_newest_checkpoint, remove_newest_checkpoint])
def test_a_bad_newest_checkpoint_falls_back_to_the_previous_one(store_url, fault):
    with new_store(store_url) as store:
        follower = StoreFollower.restore(store)
        follower.commit(CatalogChange(add={"e": ["pink"]}))
        previous = follower.write_checkpoint()
        follower.commit(CatalogChange(add={"f": ["teal"]}))
        assert follower.write_checkpoint().version == 2
        follower.commit(CatalogChange(remove=["a"]))
        fault(store)
        restored = restore(store)
        assert restored.checkpoint == previous
        assert restored.version == 3 and restored.replayed == 2
        assert len(restored.skipped) == 1 and "version 2" in restored.skipped[0]
        assert_holds_store_catalog(restored.grounder, store)


def test_with_no_usable_checkpoint_the_catalog_is_built_from_the_store(store_url):
    with new_store(store_url) as store:
        follower = StoreFollower.restore(store)
        follower.commit(CatalogChange(add={"e": ["pink"]}, priors={"e": 9.0}))
        damage_newest_checkpoint(store)  # the only one: version 0
        restored = restore(store)
        assert restored.checkpoint is None and restored.version == 1
        assert len(restored.skipped) == 1
        assert_holds_store_catalog(restored.grounder, store)
        assert restored.grounder.ground(["pink"]).item_ids == ("e",)


def hold_checkpoint_lock(store):
    """Takes the store's checkpoint lock as another process would; returns its release."""
    if store.dialect == "sqlite":
        handle = open(store.checkpoint_folder / "lock", "a+")  # noqa: SIM115 - held until release
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle.close
    import psycopg

    connection = psycopg.connect(store._conninfo, autocommit=True)
    connection.execute("SELECT pg_advisory_lock(%s)", (store._lock_key(),))
    return connection.close


def test_one_process_at_a_time_writes_a_checkpoint(store_url):
    with new_store(store_url) as store:
        follower = StoreFollower.restore(store)
        follower.commit(CatalogChange(add={"e": ["pink"]}))
        release = hold_checkpoint_lock(store)
        try:
            assert follower.write_checkpoint() is None  # the holder is another "process"
            assert [c.version for c in store.checkpoints()] == [0]
        finally:
            release()
        assert follower.write_checkpoint().version == 1


def test_only_the_newest_checkpoints_are_kept(store_url):
    from grlm.store.base import KEEP_CHECKPOINTS

    with new_store(store_url) as store:
        follower = StoreFollower.restore(store)
        for n in range(KEEP_CHECKPOINTS + 2):
            follower.commit(CatalogChange(upsert={"e": ["pink", str(n)]}))
            follower.write_checkpoint()
        kept = [c.version for c in store.checkpoints()]
        assert kept == list(range(KEEP_CHECKPOINTS + 2, 2, -1))
        if store.dialect == "sqlite":
            files = sorted(p.name for p in store.checkpoint_folder.glob("*.grlm"))
            assert files == [f"catalog-v{v:012d}.grlm" for v in sorted(kept)]
        assert_holds_store_catalog(restore(store).grounder, store)


def test_pruning_drops_only_the_changes_no_start_replays(store_url):
    with new_store(store_url) as store:
        writer = StoreFollower.restore(store)
        behind = StoreFollower.restore(store)  # stays at version 0: not following
        assert store.prune_changes() == 0  # the oldest checkpoint is version 0
        for n in range(6):
            writer.commit(CatalogChange(upsert={"e": ["pink", str(n)]}))
            if n in (1, 3, 4):
                writer.write_checkpoint()
        assert [c.version for c in store.checkpoints()] == [5, 4, 2]
        assert store.prune_changes() == 2  # versions 1 and 2
        assert [c.version for c in store.changes_since(2)] == [3, 4, 5, 6]
        for gap in (0, 1):
            with pytest.raises(ChangesPrunedError, match=f"after version {gap} start at 3"):
                store.changes_since(gap)
        assert store.prune_changes() == 0
        started = restore(store)
        assert (started.checkpoint.version, started.replayed) == (5, 1)
        assert_holds_store_catalog(started.grounder, store)
        with pytest.raises(ChangesPrunedError):
            behind.catch_up()  # it can never apply versions 1 and 2: it stops, and says why
        health = behind.health()
        assert (health.state, health.applied_version) == ("failed", 0)
        assert "fell behind the store's change log" in health.last_error
        with pytest.raises(CatalogStoreError, match="follower stopped"):
            behind.commit(CatalogChange(add={"f": ["x"]}))


def test_a_start_passes_over_a_checkpoint_whose_changes_were_pruned(store_url):
    with new_store(store_url) as store:
        writer = StoreFollower.restore(store)
        for n in range(4):
            writer.commit(CatalogChange(upsert={"e": ["pink", str(n)]}))
            writer.write_checkpoint()
        damage_newest_checkpoint(store)  # version 4; 3 loads, but the changes after it
        with store._transaction(write=True) as cursor:  # went, as in a prune racing the start
            cursor.execute("DELETE FROM grlm_changes WHERE version <= 4")
        started = restore(store)
        assert started.checkpoint is None and started.version == 4  # built from the items
        assert any("pruned meanwhile" in reason for reason in started.skipped)
        assert_holds_store_catalog(started.grounder, store)


def test_a_second_follower_applies_every_commit_in_order(store_url):
    with new_store(store_url) as store, open_store(store_url) as other:
        writer = StoreFollower.restore(store)
        reader = StoreFollower.restore(other).start()
        try:
            for n in range(20):
                version = writer.commit(CatalogChange(upsert={f"n{n % 7}": ["x", str(n)]}))
                assert writer.applied_version == version  # applied before commit returns
                assert reader.wait_for_version(version, timeout=60)
                current = reader.current()
                assert current.version >= version
            assert reader.wait_for_version(20, timeout=60)
            assert_holds_store_catalog(reader.grounder, other)
            assert answers(reader.current().snapshot) == answers(writer.grounder)
            health = reader.health()
            assert (health.applied_version, health.lag, health.state) == (20, 0, "ok")
            assert health.last_error is None
        finally:
            reader.stop()


def test_waiting_for_a_version_not_committed_gives_up(store_url):
    with new_store(store_url) as store:
        follower = StoreFollower.restore(store)
        assert follower.wait_for_version(0, timeout=0)
        assert not follower.wait_for_version(1, timeout=0.05)  # nothing commits it
        follower.start()
        try:
            assert not follower.wait_for_version(1, timeout=0.05)
        finally:
            follower.stop()


def test_the_follower_keeps_a_trie_in_step(tmp_path):
    from grlm.decoding import TokenTrie

    def encode(terms):
        return [1 + sum(map(ord, t)) % 1000 for t in terms] + [0]

    with new_store(f"sqlite:///{tmp_path}/catalog.db") as store:
        trie = TokenTrie.from_sequences({i: encode(t) for i, t in CATALOG.items()}, 0)
        follower = StoreFollower.restore(store, trie=trie, encode=encode)
        follower.commit(CatalogChange(remove=["a"], add={"e": ["pink", "Blush"]}))
        assert trie.items_of(encode(["pink", "blush"])) == ["e"]
        assert trie.walk(encode(CATALOG["a"])) == -1


# -- an unreachable store ----------------------------------------------------------------------
def test_an_unreachable_store_refuses_writes_and_reads_go_on(store_url, monkeypatch):
    import grlm.store.sqlite

    monkeypatch.setattr(grlm.store.sqlite, "BUSY_TIMEOUT_S", 0.05)
    with new_store(store_url) as store, open_store(store_url) as other:
        follower = StoreFollower.restore(store)
        follower.commit(CatalogChange(add={"e": ["pink"]}))
        before = answers(follower.current().snapshot)
        back = make_unreachable(store_url)
        try:
            with pytest.raises(StoreUnavailableError):
                follower.commit(CatalogChange(add={"f": ["teal"]}))
            assert follower.health().state == "unreachable"
            assert follower.health().last_error
            assert answers(follower.current().snapshot) == before  # reads go on
            assert follower.applied_version == 1
        finally:
            back()
        other.commit_changes(CatalogChange(add={"g": ["gold"]}))  # committed elsewhere
        assert follower.catch_up() == 2
        assert follower.health().state == "ok"
        assert follower.commit(CatalogChange(add={"f": ["teal"]})) == 3
        assert_holds_store_catalog(follower.grounder, store)


def test_a_following_thread_waits_out_an_unreachable_store(postgres_url):
    with new_store(postgres_url) as store, open_store(postgres_url) as other:
        follower = StoreFollower.restore(store, poll_interval=0.05).start()
        try:
            back = make_unreachable(postgres_url)
            try:
                assert wait_until(lambda: follower.health().state == "unreachable")
                assert answers(follower.current().snapshot) == answers(
                    Grounder(CATALOG, priors=PRIORS)
                )
            finally:
                back()
            version = other.commit_changes(CatalogChange(add={"g": ["gold"]}))
            assert follower.wait_for_version(version, timeout=60)
            # A listener ended while the store was away can fail only after the catch-up that
            # applied the version (its LISTEN is not used until then): "ok" comes back after.
            assert wait_until(lambda: follower.health().state == "ok")
            assert_holds_store_catalog(follower.grounder, other)
        finally:
            follower.stop()


def wait_until(condition, timeout: float = 60.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- bad inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["catalog.db", "sqlite:/x.db", "sqlite://x.db", "sqlite:///", "mysql://h/db", ""]
)
def test_a_url_of_no_known_kind_is_refused(url):
    with pytest.raises(InvalidInputError, match="sqlite:///"):
        open_store(url)


def test_a_missing_sqlite_file_is_named(tmp_path):
    with pytest.raises(CatalogStoreError, match="no catalog store at .*nothing.db"):
        open_store(f"sqlite:///{tmp_path}/nothing.db")
    assert not (tmp_path / "nothing.db").exists()  # opening creates nothing


def test_a_file_that_is_no_store_is_refused(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("not a database, " * 100)
    with pytest.raises(CatalogStoreError, match="not a SQLite database"):
        open_store(f"sqlite:///{text}")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(CatalogStoreError, match="holds no grlm catalog store"):
        open_store(f"sqlite:///{other}")


def test_a_store_of_another_schema_version_is_refused(store_url):
    with new_store(store_url) as store, store._transaction(write=True) as cursor:
        cursor.execute("UPDATE grlm_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(CatalogStoreError, match="schema version 99; this grlm reads version 1"):
        open_store(store_url)


def test_creating_over_a_store_is_refused_and_leaves_it_whole(store_url):
    with new_store(store_url) as store:
        store.commit_changes(CatalogChange(add={"e": ["pink"]}))
    with pytest.raises(CatalogStoreError, match="already"):
        new_store(store_url, catalog={"z": ["zz"]})
    with open_store(store_url) as store:
        assert store.head_version() == 1 and "e" in store.catalog().term_ids


def test_a_postgres_server_that_does_not_answer_is_unavailable():
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        open_store(f"postgresql://grlm:secret@127.0.0.1:{port}/db")
    try:
        open_store(f"postgresql://grlm:secret@127.0.0.1:{port}/db")
    except StoreUnavailableError as error:
        assert "secret" not in str(error)  # the password is not repeated


def test_bad_arguments_are_named(store_url):
    with new_store(store_url) as store:
        with pytest.raises(TypeError, match="CatalogChange"):
            store.commit_changes({"add": {"e": ["x"]}})
        with pytest.raises(InvalidInputError, match="-1"):
            store.changes_since(-1)
        with pytest.raises(TypeError, match="Grounder"):
            create_store(store_url, CATALOG)
