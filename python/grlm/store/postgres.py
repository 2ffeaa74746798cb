"""The catalog store for fleets: a PostgreSQL database (psycopg 3: ``pip install 'grlm[store]'``),
shared by every process and machine that serves the catalog.

A commit sends ``NOTIFY`` on the store's channel, so followers wake at once (they poll too, in
case a notification is lost with a connection). Checkpoints are kept in the database itself
(``grlm_checkpoints.data``, the index's bytes with their SHA-256), so that a process on any
machine can start from one without a shared file system; one is written inside one transaction
by the holder of a transaction-scoped advisory lock, so it is listed whole or not at all.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from grlm.errors import CatalogStoreError, StoreUnavailableError
from grlm.ground.grounder import Grounder
from grlm.store.base import CatalogStore, CheckpointInfo
from grlm.store.digest import bytes_digest, file_digest

# Seconds to wait for a server to accept a connection before it counts as unreachable (a server
# that is down refuses at once; this bounds a host that does not answer, or one under load).
CONNECT_TIMEOUT_S = 30


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise CatalogStoreError(
            "a PostgreSQL catalog store needs psycopg 3: pip install 'grlm[store]'"
        ) from None
    return psycopg


class _Cursor:
    """A psycopg cursor taking the ``?`` parameters the shared SQL is written with."""

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql: str, params=()):
        return self._cursor.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows) -> None:
        self._cursor.executemany(sql.replace("?", "%s"), rows)

    @property
    def raw(self):
        return self._cursor


class PostgresCatalogStore(CatalogStore):
    """A catalog store in a PostgreSQL database (see the module's docstring)."""

    dialect = "postgresql"
    POLL_INTERVAL_S = 0.5  # a fallback: NOTIFY wakes followers first

    def _connect(self, *, create: bool) -> None:
        self._lock = threading.Lock()  # one transaction at a time on the command connection
        self._connection = None
        self._listener = None  # the following thread's own connection (LISTEN)
        self._open = True
        with self._transaction(write=False):
            pass  # connects now: a bad URL or a server that is down fails here

    def _new_connection(self):
        psycopg = _psycopg()
        try:
            return psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        except psycopg.OperationalError as error:
            raise StoreUnavailableError(
                f"{self.url}: cannot connect: {_first_line(error)}"
            ) from None
        except psycopg.ProgrammingError as error:  # a malformed connection string
            raise CatalogStoreError(f"{self.url}: {_first_line(error)}") from None

    @contextmanager
    def _transaction(self, *, write: bool):
        psycopg = _psycopg()
        if not self._open:
            raise CatalogStoreError(f"{self.url} is closed")
        with self._lock:
            connection, cursor = self._begin(write)
            try:
                try:
                    yield _Cursor(cursor)
                    cursor.execute("COMMIT")
                except BaseException:
                    if not connection.closed and not connection.broken:
                        connection.execute("ROLLBACK")
                    raise
            except psycopg.OperationalError as error:  # the server or the connection went away
                self._drop(connection)
                raise StoreUnavailableError(f"{self.url}: {_first_line(error)}") from None
            except psycopg.Error as error:
                raise CatalogStoreError(f"{self.url}: {_first_line(error)}") from None

    def _begin(self, write: bool):
        """Begins a transaction; a connection found broken (the server restarted, the session
        was ended) is replaced once, which is safe as nothing was sent on it yet."""
        psycopg = _psycopg()
        # A read sees one state across its statements; a write queues on grlm_head's row and
        # then sees every change committed before it (READ COMMITTED).
        begin = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ"
        for _ in range(2):
            if self._connection is None or self._connection.closed:
                self._connection = self._new_connection()
            connection = self._connection
            try:
                cursor = connection.cursor()
                cursor.execute(begin)
                return connection, cursor
            except psycopg.OperationalError as error:
                self._drop(connection)
                failure = error
        raise StoreUnavailableError(f"{self.url}: {_first_line(failure)}") from None

    def _drop(self, connection) -> None:
        if connection is self._connection:
            self._connection = None
        connection.close()  # a no-op on a broken one

    def _tables_exist(self, cursor) -> bool:
        return cursor.execute("SELECT to_regclass('grlm_meta') IS NOT NULL").fetchone()[0]

    def _insert_items(self, cursor, rows) -> None:
        with cursor.raw.copy(
            "COPY grlm_items (item_id, position, terms, prior) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)

    @property
    def channel(self) -> str:
        """The NOTIFY channel of this store (one per catalog, so stores may share a database)."""
        return f"grlm_catalog_{self.catalog_id[:16]}"

    def _lock_key(self) -> int:
        digest = hashlib.sha256(f"grlm checkpoint {self.catalog_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _announce(self, cursor, version: int) -> None:
        cursor.execute("SELECT pg_notify(?, ?)", (self.channel, str(version)))

    def wait_for_commit(self, timeout: float) -> None:
        psycopg = _psycopg()
        try:
            if self._listener is None or self._listener.closed:
                self._listener = self._new_connection()
                self._listener.execute(f'LISTEN "{self.channel}"')
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.OperationalError as error:
            listener, self._listener = self._listener, None
            if listener is not None:
                listener.close()
            raise StoreUnavailableError(f"{self.url}: {_first_line(error)}") from None

    def _checkpoint_location(self, version: int) -> str:
        return f"{self.url} grlm_checkpoints[version={version}]"

    def write_checkpoint(self, grounder: Grounder, version: int) -> CheckpointInfo | None:
        psycopg = _psycopg()
        connection = self._new_connection()  # its own: commits go on meanwhile
        try:
            cursor = _Cursor(connection.cursor())
            cursor.execute("BEGIN")
            locked = cursor.execute(
                "SELECT pg_try_advisory_xact_lock(?)", (self._lock_key(),)
            ).fetchone()[0]
            if not locked:
                cursor.execute("ROLLBACK")
                return None  # another process is writing one
            row = cursor.execute(
                "SELECT size, sha256, written_at FROM grlm_checkpoints WHERE version = ?",
                (version,),
            ).fetchone()
            if row is not None:
                cursor.execute("ROLLBACK")
                size, sha256, written_at = row
                return CheckpointInfo(
                    version, size, sha256, written_at, self._checkpoint_location(version)
                )
            with tempfile.TemporaryDirectory(prefix="grlm-checkpoint-") as folder:
                path = Path(folder) / "catalog.grlm"
                grounder.save(path)
                size, sha256 = file_digest(path)
                data = path.read_bytes()
            checkpoint = CheckpointInfo(
                version, size, sha256, time.time(), self._checkpoint_location(version)
            )
            self._record_checkpoint(cursor, checkpoint, data)
            cursor.execute("COMMIT")
            return checkpoint
        except psycopg.OperationalError as error:
            raise StoreUnavailableError(f"{self.url}: {_first_line(error)}") from None
        except psycopg.Error as error:
            raise CatalogStoreError(f"{self.url}: {_first_line(error)}") from None
        finally:
            connection.close()

    def load_checkpoint(self, checkpoint: CheckpointInfo, *, device: str = "cpu") -> Grounder:
        with self._transaction(write=False) as cursor:
            row = cursor.execute(
                "SELECT data FROM grlm_checkpoints WHERE version = ?", (checkpoint.version,)
            ).fetchone()
        where = f"checkpoint of version {checkpoint.version}"
        if row is None or row[0] is None:
            raise CatalogStoreError(f"{where}: no longer in the store")
        data = bytes(row[0])
        if bytes_digest(data) != (checkpoint.size, checkpoint.sha256):
            raise CatalogStoreError(f"{where}: its bytes do not match their recorded SHA-256")
        with tempfile.TemporaryDirectory(prefix="grlm-checkpoint-") as folder:
            path = Path(folder) / "catalog.grlm"
            path.write_bytes(data)
            return Grounder.load(path, device=device)

    def _discard_new(self) -> None:
        if not self._created_tables:
            return  # the database held a store already, or nothing was written
        try:
            with self._transaction(write=True) as cursor:
                for table in ("checkpoints", "changes", "items", "head", "meta"):
                    cursor.execute(f"DROP TABLE IF EXISTS grlm_{table}")
        except CatalogStoreError:
            pass

    def close(self) -> None:
        self._open = False
        with self._lock:
            connection, self._connection = self._connection, None
        listener, self._listener = self._listener, None
        for each in (connection, listener):
            if each is not None:
                each.close()


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
