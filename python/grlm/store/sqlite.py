"""The embedded catalog store: one SQLite database file (the standard library's ``sqlite3``), in
WAL mode so that readers never wait for the writer, with ``synchronous=FULL`` so that a commit
is on disk before it is acknowledged.

Checkpoints are index files in a folder beside the database (``catalog.db.checkpoints/``),
each written to a temporary file and renamed into place (``Grounder.save``) by the holder of an
exclusive file lock (``flock`` on ``lock`` in that folder), then listed in the database.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from grlm.errors import CatalogStoreError, InvalidInputError, StoreUnavailableError
from grlm.ground.grounder import Grounder
from grlm.store.base import CatalogStore, CheckpointInfo
from grlm.store.digest import file_digest

# How long a writer waits for another process's write transaction before the store counts as
# unavailable (a commit takes milliseconds; a checkpoint never holds the database lock).
BUSY_TIMEOUT_S = 5.0
_CHECKPOINT_NAME = re.compile(r"catalog-v(\d{12})\.grlm")


def sqlite_path(url: str) -> Path:
    """The database file of ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``
    (SQLAlchemy's spelling: the path follows the third slash)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise InvalidInputError(
            f"a SQLite store URL is sqlite:///relative/path.db or sqlite:////absolute/path.db,"
            f" got {url!r}"
        )
    path = url[len(prefix) :]
    if "\0" in path or "?" in path:
        raise InvalidInputError(f"a SQLite store path holds no NUL or '?', got {path!r}")
    return Path(path)


class SqliteCatalogStore(CatalogStore):
    """A catalog store in one SQLite file (see the module's docstring)."""

    dialect = "sqlite"
    POLL_INTERVAL_S = 0.01

    def _connect(self, *, create: bool) -> None:
        self.path = sqlite_path(self.url).absolute()
        self._lock = threading.Lock()  # one transaction at a time on the one connection
        self._connection: sqlite3.Connection | None = None
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:  # claims the name: two creators cannot both get it
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                raise CatalogStoreError(
                    f"{self.path} already exists; a new catalog store needs a new file"
                ) from None
        elif not self.path.is_file():
            raise CatalogStoreError(
                f"no catalog store at {self.path} (no such file); create one with"
                " `grlm catalog create`"
            )
        try:
            self._connection = sqlite3.connect(
                f"file:{quote(str(self.path))}?mode=rw",
                uri=True,
                isolation_level=None,  # transactions are begun and ended explicitly
                check_same_thread=False,  # shared by threads, one at a time (self._lock)
                timeout=BUSY_TIMEOUT_S,
            )
            self._connection.execute("PRAGMA journal_mode=WAL").fetchone()
            self._connection.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as error:
            raise CatalogStoreError(f"{self.path}: not a SQLite database ({error})") from None

    @property
    def checkpoint_folder(self) -> Path:
        return self.path.with_name(self.path.name + ".checkpoints")

    @contextmanager
    def _transaction(self, *, write: bool):
        if self._connection is None:
            raise CatalogStoreError(f"{self.url} is closed")
        with self._lock:
            connection = self._connection
            try:
                # IMMEDIATE takes the write lock at once: two writers never deadlock upgrading.
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield connection.cursor()
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as error:  # locked past the timeout, I/O, disk full
                raise StoreUnavailableError(f"{self.path}: {error}") from None
            except sqlite3.DatabaseError as error:
                raise CatalogStoreError(f"{self.path}: {error}") from None

    def _tables_exist(self, cursor) -> bool:
        row = cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'grlm_meta'"
        ).fetchone()
        return row is not None

    def wait_for_commit(self, timeout: float) -> None:
        time.sleep(timeout)  # SQLite has no notifications across processes: followers poll

    def _checkpoint_location(self, version: int) -> str:
        return str(self.checkpoint_folder / f"catalog-v{version:012d}.grlm")

    def write_checkpoint(self, grounder: Grounder, version: int) -> CheckpointInfo | None:
        folder = self.checkpoint_folder
        folder.mkdir(exist_ok=True)
        lock = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # another process is writing one
            existing = [c for c in self.checkpoints() if c.version == version]
            if existing:
                return existing[0]
            path = self._checkpoint_location(version)
            grounder.save(path)  # a temporary file renamed into place
            size, sha256 = file_digest(path)
            checkpoint = CheckpointInfo(version, size, sha256, time.time(), path)
            with self._transaction(write=True) as cursor:
                self._record_checkpoint(cursor, checkpoint, None)
            self._delete_unlisted_checkpoints()
            return checkpoint
        finally:
            os.close(lock)  # releases the lock

    def _delete_unlisted_checkpoints(self) -> None:
        """Deletes checkpoint files the store no longer lists (pruned, or left by a writer that
        was killed before listing its file). Under the checkpoint lock."""
        listed = {c.version for c in self.checkpoints()}
        for entry in self.checkpoint_folder.iterdir():
            match = _CHECKPOINT_NAME.fullmatch(entry.name)
            if match and int(match.group(1)) not in listed:
                entry.unlink(missing_ok=True)

    def load_checkpoint(self, checkpoint: CheckpointInfo, *, device: str = "cpu") -> Grounder:
        path = Path(checkpoint.location)
        try:
            size = path.stat().st_size
        except OSError as error:
            raise CatalogStoreError(
                f"checkpoint of version {checkpoint.version}: {path}: {error.strerror}"
            ) from None
        if size != checkpoint.size:
            raise CatalogStoreError(
                f"checkpoint of version {checkpoint.version}: {path} holds {size} bytes, the"
                f" store listed {checkpoint.size}"
            )
        return Grounder.load(path, device=device)  # checks the index's own checksum

    def _discard_new(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        if self.checkpoint_folder.is_dir():
            shutil.rmtree(self.checkpoint_folder, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
