"""``CatalogStore``: the catalog of record, one interface over two databases (``sqlite.py``,
``postgres.py``). What the backends share lives here, written once as SQL both dialects run
(``?`` parameters; the PostgreSQL backend turns them into ``%s``): committing a change,
reading the changes after a version, the catalog at the head, the list of checkpoints.

A change is committed all-or-nothing in one transaction that also takes the next version of the
catalog's one sequence (``UPDATE grlm_head ... RETURNING``: writers queue on that row, so
versions have no gaps and no two changes share one). It is checked first against what the
catalog's index would refuse anyway (``changes.checked_change``), then, inside the
transaction, against the items the catalog holds at that moment, so every committed change
applies on every follower.
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from grlm.errors import CatalogStoreError, ChangesPrunedError, InvalidInputError
from grlm.ground.grounder import Grounder
from grlm.ground.updates import CatalogChange
from grlm.store import schema
from grlm.store.catalog import CatalogConfig, StoreCatalog
from grlm.store.changes import (
    PUT_STEPS,
    CommittedChange,
    checked_change,
    decode_change,
    encode_change,
)

if TYPE_CHECKING:
    from typing_extensions import Self

# Checkpoints kept (the newest first); older ones are deleted when a new one is written. A start
# falls back along them when the newest cannot be loaded.
KEEP_CHECKPOINTS = 3
# Item ids per "IN (...)" lookup (SQLite allows 32,766 parameters; small keeps plans cheap).
_LOOKUP_CHUNK = 500


def redacted(url: str) -> str:
    """``url`` with its password (``scheme://user:password@host``) replaced by ``***``."""
    return re.sub(r"^([a-z]+://[^:/@]*:)[^@/]*@", r"\1***@", url)


@dataclass(frozen=True)
class CheckpointInfo:
    """A saved index (``Grounder.save``) holding the catalog at ``version``. ``location``: the
    file (SQLite) or the table row (PostgreSQL) it lives in."""

    version: int
    size: int
    sha256: str
    written_at: float
    location: str


class CatalogStore(ABC):
    """The catalog of record: its fixed settings, its items at the newest version, every
    committed change, and checkpoints. Open one with ``grlm.store.open_store(url)``; create
    one with ``grlm.store.create_store(url, grounder)``.

    Thread-safe: calls from several threads take turns on the store's connection. A follower
    (``grlm.store.StoreFollower``) keeps a Grounder in step with it.

    Attributes
    ----------
    url : str
        The URL it was opened with (a password replaced by ``***``).
    config : CatalogConfig
        Mode, weights and Term ID length of the catalog.
    catalog_id : str
        A random id given at creation (names the store's lock and notification channel).
    """

    dialect: ClassVar[str]
    # How often a follower looks at the store (PostgreSQL's followers are woken by NOTIFY too).
    POLL_INTERVAL_S: ClassVar[float]

    def __init__(self, url: str, *, new_catalog: Grounder | None = None):
        self.url = redacted(url)
        self._conninfo = url
        self._created_tables = False
        self._connect(create=new_catalog is not None)
        try:
            if new_catalog is not None:
                self._create_tables(new_catalog)
                self._created_tables = True
            self._read_meta()
            if new_catalog is not None:
                self.write_checkpoint(new_catalog, 0)
        except BaseException:
            if new_catalog is not None:
                self._discard_new()
            self.close()
            raise

    # -- each backend's part --------------------------------------------------------------------
    @abstractmethod
    def _connect(self, *, create: bool) -> None:
        """Opens the database (``create``: a new one, which must not hold a store yet)."""

    @abstractmethod
    def _discard_new(self) -> None:
        """Removes what a creation that failed had written (best effort)."""

    @abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Any]:
        """A transaction yielding a cursor (``execute`` with ``?`` parameters, ``executemany``),
        committed on exit, rolled back on an exception. A read sees one consistent state. A
        failing database raises StoreUnavailableError or CatalogStoreError."""

    @abstractmethod
    def _tables_exist(self, cursor) -> bool: ...

    def _announce(self, cursor, version: int) -> None:
        """Tells waiting followers, when the transaction commits, that ``version`` exists."""

    @abstractmethod
    def wait_for_commit(self, timeout: float) -> None:
        """Returns when a change may have been committed since the previous call, or after
        ``timeout`` seconds (SQLite: always the latter; PostgreSQL: a notification). The first
        call starts listening. For one thread at a time (a follower's)."""

    @abstractmethod
    def write_checkpoint(self, grounder: Grounder, version: int) -> CheckpointInfo | None:
        """Saves ``grounder`` (which must hold the catalog at ``version``) as a checkpoint,
        atomically, under the store's checkpoint lock. Returns None, writing nothing, when
        another process holds the lock; the existing checkpoint when ``version`` has one."""

    @abstractmethod
    def load_checkpoint(self, checkpoint: CheckpointInfo, *, device: str = "cpu") -> Grounder:
        """The Grounder a checkpoint holds; IndexFileError or CatalogStoreError when it is
        missing or damaged."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- reading --------------------------------------------------------------------------------
    def head_version(self) -> int:
        """The version of the newest committed change (0: none since the store was created)."""
        with self._transaction(write=False) as cursor:
            return int(cursor.execute("SELECT version FROM grlm_head").fetchone()[0])

    def item_count(self) -> int:
        with self._transaction(write=False) as cursor:
            return int(cursor.execute("SELECT items FROM grlm_head").fetchone()[0])

    def changes_since(self, version: int, *, limit: int | None = None) -> list[CommittedChange]:
        """The committed changes after ``version``, in version order (at most ``limit``)."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InvalidInputError(f"a catalog version is an int >= 0, got {version!r}")
        sql = "SELECT version, change, committed_at FROM grlm_changes WHERE version > ?"
        sql += " ORDER BY version"
        params: tuple = (version,)
        if limit is not None:
            sql, params = sql + " LIMIT ?", (version, int(limit))
        with self._transaction(write=False) as cursor:
            # The head first: on PostgreSQL each statement sees the commits made before it, so
            # rows read after the head hold every change up to it unless some were pruned.
            head = int(cursor.execute("SELECT version FROM grlm_head").fetchone()[0])
            rows = cursor.execute(sql, params).fetchall()
        first = int(rows[0][0]) if rows else head + 1
        if version < head and first != version + 1:
            raise ChangesPrunedError(
                f"{self.url}: the changes after version {version} start at {first}: those"
                " before were pruned behind the oldest checkpoint (start from a checkpoint)"
            )
        return [CommittedChange(int(v), decode_change(text), float(at)) for v, text, at in rows]

    def catalog(self) -> StoreCatalog:
        """The catalog at the newest version, read in one transaction."""
        with self._transaction(write=False) as cursor:
            version = int(cursor.execute("SELECT version FROM grlm_head").fetchone()[0])
            rows = cursor.execute(
                "SELECT item_id, terms, prior FROM grlm_items ORDER BY position"
            ).fetchall()
        term_ids = {item_id: json.loads(terms) for item_id, terms, _ in rows}
        priors = {item_id: float(prior) for item_id, _, prior in rows}
        return StoreCatalog(version, self.config, term_ids, priors)

    def checkpoints(self) -> list[CheckpointInfo]:
        """The checkpoints the store lists, newest first."""
        with self._transaction(write=False) as cursor:
            rows = cursor.execute(
                "SELECT version, size, sha256, written_at FROM grlm_checkpoints"
                " ORDER BY version DESC"
            ).fetchall()
        return [
            CheckpointInfo(int(v), int(size), sha, float(at), self._checkpoint_location(int(v)))
            for v, size, sha, at in rows
        ]

    @abstractmethod
    def _checkpoint_location(self, version: int) -> str: ...

    # -- writing --------------------------------------------------------------------------------
    def commit_changes(self, change: CatalogChange) -> int:
        """Commits ``change`` (its steps remove, update, upsert, add, as in
        ``apply_catalog_change``) all-or-nothing and returns its version, the next of the
        catalog's one sequence. A change the catalog cannot take (an unknown or present item, a
        bad Term ID or prior, removing every item) raises InvalidInputError naming the item and
        commits nothing; an unreachable store raises StoreUnavailableError."""
        change = checked_change(change, self.config)
        document = encode_change(change)
        with self._transaction(write=True) as cursor:
            version, items, next_position = cursor.execute(
                "UPDATE grlm_head SET version = version + 1 RETURNING version, items, next_position"
            ).fetchone()
            if change.remove:
                items -= self._remove_items(cursor, change.remove, items)
            for step in PUT_STEPS:
                if getattr(change, step):
                    added = self._put_items(cursor, step, change, next_position)
                    items, next_position = items + added, next_position + added
            cursor.execute(
                "UPDATE grlm_head SET items = ?, next_position = ?", (items, next_position)
            )
            cursor.execute(
                "INSERT INTO grlm_changes (version, change, committed_at) VALUES (?, ?, ?)",
                (version, document, time.time()),
            )
            self._announce(cursor, version)
        return int(version)

    def _remove_items(self, cursor, item_ids: list[str], items: int) -> int:
        present = self._present(cursor, item_ids)
        for item_id in item_ids:
            if item_id not in present:
                raise InvalidInputError(f"item {item_id!r} is not in the catalog")
        if len(item_ids) >= items:
            raise InvalidInputError(
                f"removing these {len(item_ids)} items would leave the catalog empty; a grounder"
                " needs at least one item (add the new ones first)"
            )
        cursor.executemany("DELETE FROM grlm_items WHERE item_id = ?", [(i,) for i in item_ids])
        return len(item_ids)

    def _put_items(self, cursor, step: str, change: CatalogChange, next_position: int) -> int:
        """Writes one put step; returns how many items it added (at ``next_position`` on)."""
        items = getattr(change, step)
        present = self._present(cursor, list(items))
        updates, inserts = [], []
        for item_id, terms in items.items():
            text = json.dumps(terms, ensure_ascii=False)
            if item_id in present:
                if step == "add":
                    raise InvalidInputError(
                        f"item {item_id!r} is already in the catalog (update it instead)"
                    )
                updates.append((text, change.priors.get(item_id), item_id))
            else:
                if step == "update":
                    raise InvalidInputError(f"item {item_id!r} is not in the catalog (add it)")
                position = next_position + len(inserts)
                inserts.append((item_id, position, text, change.priors.get(item_id, 0.0)))
        if updates:  # an update keeps the item's prior unless the change gives one
            cursor.executemany(
                "UPDATE grlm_items SET terms = ?, prior = COALESCE(?, prior) WHERE item_id = ?",
                updates,
            )
        if inserts:
            cursor.executemany(
                "INSERT INTO grlm_items (item_id, position, terms, prior) VALUES (?, ?, ?, ?)",
                inserts,
            )
        return len(inserts)

    def prune_changes(self) -> int:
        """Deletes the changes no start needs any more, those at or before the oldest listed
        checkpoint (a start loads a checkpoint and replays what follows it), and returns how
        many. Reading changes across the gap then raises ChangesPrunedError: a follower that
        had not applied them stops, and a restart starts it from a checkpoint."""
        with self._transaction(write=True) as cursor:
            oldest = cursor.execute("SELECT MIN(version) FROM grlm_checkpoints").fetchone()[0]
            if oldest is None:
                return 0
            deleted = cursor.execute("DELETE FROM grlm_changes WHERE version <= ?", (oldest,))
            return int(deleted.rowcount)

    @staticmethod
    def _present(cursor, item_ids: list[str]) -> set[str]:
        """Which of ``item_ids`` the catalog holds."""
        present: set[str] = set()
        for start in range(0, len(item_ids), _LOOKUP_CHUNK):
            chunk = item_ids[start : start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = cursor.execute(
                f"SELECT item_id FROM grlm_items WHERE item_id IN ({marks})", tuple(chunk)
            ).fetchall()
            present.update(row[0] for row in rows)
        return present

    def _record_checkpoint(self, cursor, checkpoint: CheckpointInfo, data: bytes | None) -> None:
        """Lists a written checkpoint and forgets all but the newest KEEP_CHECKPOINTS (inside
        the writer's transaction)."""
        cursor.execute(
            "INSERT INTO grlm_checkpoints (version, size, sha256, written_at, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (checkpoint.version, checkpoint.size, checkpoint.sha256, checkpoint.written_at, data),
        )
        cursor.execute(
            "DELETE FROM grlm_checkpoints WHERE version NOT IN (SELECT version FROM"
            f" grlm_checkpoints ORDER BY version DESC LIMIT {KEEP_CHECKPOINTS})"
        )

    # -- creation and opening -------------------------------------------------------------------
    def _create_tables(self, grounder: Grounder) -> None:
        import uuid

        snapshot = grounder.snapshot()
        item_ids = list(snapshot.item_ids)
        priors = grounder.priors or [0.0] * len(item_ids)
        config = CatalogConfig.of(grounder)
        meta = {
            "schema_version": str(schema.SCHEMA_VERSION),
            "catalog_id": uuid.uuid4().hex,
            "mode": config.mode,
            "weights": json.dumps(list(config.weights)),
            "term_id_length": str(config.term_id_length),
            "created_at": repr(time.time()),
        }
        rows = (
            (item_id, position, json.dumps(snapshot.item_terms(item_id), ensure_ascii=False), p)
            for position, (item_id, p) in enumerate(zip(item_ids, priors))
        )
        with self._transaction(write=True) as cursor:
            if self._tables_exist(cursor):
                raise CatalogStoreError(f"{self.url} already holds a grlm catalog store")
            for statement in schema.create_statements(self.dialect):
                cursor.execute(statement)
            cursor.executemany("INSERT INTO grlm_meta (key, value) VALUES (?, ?)", meta.items())
            cursor.execute(
                "INSERT INTO grlm_head (id, version, items, next_position) VALUES (1, 0, ?, ?)",
                (len(item_ids), len(item_ids)),
            )
            self._insert_items(cursor, rows)

    def _insert_items(self, cursor, rows: Iterable[tuple[str, int, str, float]]) -> None:
        """Writes a new catalog's items (PostgreSQL overrides it with COPY)."""
        cursor.executemany(
            "INSERT INTO grlm_items (item_id, position, terms, prior) VALUES (?, ?, ?, ?)", rows
        )

    def _read_meta(self) -> None:
        with self._transaction(write=False) as cursor:
            if not self._tables_exist(cursor):
                raise CatalogStoreError(
                    f"{self.url} holds no grlm catalog store (no grlm_meta table); create one"
                    " with `grlm catalog create`"
                )
            meta = dict(cursor.execute("SELECT key, value FROM grlm_meta").fetchall())
        found = meta.get("schema_version")
        if found != str(schema.SCHEMA_VERSION):
            raise CatalogStoreError(
                f"{self.url}: a catalog store of schema version {found}; this grlm reads"
                f" version {schema.SCHEMA_VERSION}"
            )
        self.catalog_id = meta["catalog_id"]
        self.config = CatalogConfig(
            meta["mode"],  # type: ignore[arg-type]
            tuple(json.loads(meta["weights"])),
            int(meta["term_id_length"]),
        )
