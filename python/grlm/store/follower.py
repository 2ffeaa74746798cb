"""``StoreFollower``: keeps one process's Grounder (and, when given, its token trie) in step with
a catalog store, applying the committed changes in version order.

Readers take ``follower.current()``: the applied version and the Grounder's snapshot at it,
published together once a whole change (or a run of them) is applied, so an answer always names
the version it was computed from. A change made through the follower is committed to the store
first and applied after, and its version returned: once ``commit`` returns, this process
answers from that version or a newer one.

Following runs on a thread (``start``): SQLite is polled every ``poll_interval`` seconds;
PostgreSQL wakes the follower with ``NOTIFY`` and is polled as well, in case a notification is
lost. When the store cannot be reached, readers keep the last applied version, ``health()``
says ``unreachable`` with the reason, and the follower retries (backing off to
``MAX_RETRY_INTERVAL_S``) and catches up once the store answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from grlm.errors import CatalogStoreError, ChangesPrunedError, StoreUnavailableError
from grlm.ground.grounder import Grounder, GrounderSnapshot
from grlm.ground.updates import CatalogChange
from grlm.store.base import CatalogStore, CheckpointInfo
from grlm.store.replay import apply_changes
from grlm.store.restore import restore

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger("grlm.store")

# The longest wait between two tries to reach a store that did not answer.
MAX_RETRY_INTERVAL_S = 2.0
# Changes fetched and applied at once when catching up (each run is folded into one change).
CATCH_UP_PAGE = 10_000

StoreState = Literal["ok", "unreachable", "failed"]


@dataclass(frozen=True)
class AppliedCatalog:
    """The catalog a follower answers from: ``snapshot`` holds the store's catalog at
    ``version``."""

    version: int
    snapshot: GrounderSnapshot


@dataclass(frozen=True)
class FollowerHealth:
    """What ``/healthz`` shows of a follower.

    Attributes
    ----------
    applied_version : int
        The version readers get.
    store_version : int
        The newest version the follower has seen in the store.
    lag : int
        ``store_version - applied_version``: changes committed but not yet applied here.
    state : {"ok", "unreachable", "failed"}
        ``unreachable``: the last try to reach the store failed (reads go on from
        ``applied_version``); ``failed``: a committed change could not be applied, or the
        changes still to apply were pruned from the store, and the follower stopped (restart
        the process: it starts from a checkpoint).
    last_error : str or None
        The reason of the last failure.
    seconds_since_contact : float or None
        Since the store last answered (None: never).
    """

    applied_version: int
    store_version: int
    lag: int
    state: StoreState
    last_error: str | None
    seconds_since_contact: float | None


class StoreFollower:
    """Keeps ``grounder`` (holding the store's catalog at ``version``) in step with ``store``.

    Parameters
    ----------
    store : CatalogStore
    grounder : Grounder
        Owned by the follower from now on: change it only through ``commit``.
    version : int
        The store version ``grounder`` holds.
    trie, encode : optional
        A token trie of the same catalog and the encoder of its Term IDs, changed with the
        Grounder (see ``grlm.ground.updates.apply_catalog_change``).
    poll_interval : float, optional
        Seconds between two looks at the store (default: the backend's ``POLL_INTERVAL_S``).
    """

    def __init__(
        self,
        store: CatalogStore,
        grounder: Grounder,
        version: int,
        *,
        trie=None,
        encode: Callable[[Sequence[str]], Sequence[int]] | None = None,
        poll_interval: float | None = None,
    ):
        self._store, self._grounder = store, grounder
        self._trie, self._encode = trie, encode
        self.poll_interval = store.POLL_INTERVAL_S if poll_interval is None else poll_interval
        self._apply_lock = threading.Lock()  # one applier at a time
        self._applied = threading.Condition()  # notified when a new version is published
        self._current = AppliedCatalog(version, grounder.snapshot())
        self._store_version = version
        self._state: StoreState = "ok"
        self._last_error: str | None = None
        self._last_contact: float | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @classmethod
    def restore(cls, store: CatalogStore, *, device: str = "cpu", **options) -> StoreFollower:
        """A follower of a Grounder loaded from the store's newest usable checkpoint and the
        changes after it (``grlm.store.restore``). Options as for the constructor."""
        restored = restore(store, device=device)
        return cls(store, restored.grounder, restored.version, **options)

    @property
    def store(self) -> CatalogStore:
        return self._store

    @property
    def grounder(self) -> Grounder:
        return self._grounder

    @property
    def applied_version(self) -> int:
        return self._current.version

    def current(self) -> AppliedCatalog:
        """The applied version and the snapshot at it (immutable; cheap)."""
        return self._current

    # -- changes --------------------------------------------------------------------------------
    def commit(self, change: CatalogChange) -> int:
        """Commits ``change`` to the store, applies it here (with any change committed before
        it) and returns its version. InvalidInputError: the catalog cannot take the change
        (nothing committed); StoreUnavailableError: the store cannot be reached (nothing
        committed, unless the error's ``committed_version`` says otherwise: the store went away
        between the commit and its reading back here)."""
        self._check_not_failed()
        try:
            version = self._store.commit_changes(change)
        except StoreUnavailableError as error:
            self._note_unreachable(error)
            raise
        try:
            self._catch_up(until=version)
        except StoreUnavailableError as error:
            unapplied = StoreUnavailableError(
                f"committed as version {version}, not yet applied here: {error}"
            )
            unapplied.committed_version = version
            raise unapplied from None
        return version

    def catch_up(self) -> int:
        """Applies what the store committed after the applied version; returns the applied
        version. StoreUnavailableError when the store cannot be reached."""
        return self._catch_up(until=None)

    def _catch_up(self, *, until: int | None) -> int:
        with self._apply_lock:
            self._check_not_failed()
            while until is None or self._current.version < until:
                applied = self._current.version
                try:
                    changes = self._store.changes_since(applied, limit=CATCH_UP_PAGE)
                except StoreUnavailableError as error:
                    self._note_unreachable(error)
                    raise
                except ChangesPrunedError as error:
                    self._stop_following(f"fell behind the store's change log: {error}")
                    raise
                self._note_contact(changes[-1].version if changes else applied)
                if not changes:
                    break
                self._apply(changes)
                if len(changes) < CATCH_UP_PAGE and until is None:
                    break
            return self._current.version

    def _apply(self, changes) -> None:
        expected = self._current.version + 1
        assert changes[0].version == expected, f"change {changes[0].version}, not {expected}"
        try:
            apply_changes(self._grounder, changes, trie=self._trie, encode=self._encode)
        except Exception as error:  # the store committed a change this catalog refuses
            reason = (
                f"versions {changes[0].version}..{changes[-1].version} cannot be applied: {error}"
            )
            self._stop_following(reason)
            raise CatalogStoreError(reason) from error
        with self._applied:
            self._current = AppliedCatalog(changes[-1].version, self._grounder.snapshot())
            self._applied.notify_all()

    def wait_for_version(self, version: int, timeout: float) -> bool:
        """Waits at most ``timeout`` seconds until the applied version is at least ``version``
        (read-your-writes); True when it is. Without a following thread it looks at the store
        itself."""
        deadline = time.monotonic() + timeout
        while self._current.version < version:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._thread is None and self._state != "failed":
                try:
                    self.catch_up()
                except StoreUnavailableError:
                    pass
                if self._current.version >= version:
                    break
            with self._applied:
                if self._current.version < version:
                    self._applied.wait(min(remaining, self.poll_interval))
        return True

    def write_checkpoint(self) -> CheckpointInfo | None:
        """Saves the applied catalog as a checkpoint of its version (None when another process
        is writing one). No change is applied meanwhile: at a million items this takes about a
        second, and a compaction first when changes are pending."""
        with self._apply_lock:
            return self._store.write_checkpoint(self._grounder, self._current.version)

    # -- state ----------------------------------------------------------------------------------
    def health(self) -> FollowerHealth:
        applied = self._current.version
        store_version = max(self._store_version, applied)
        contact = self._last_contact
        return FollowerHealth(
            applied_version=applied,
            store_version=store_version,
            lag=store_version - applied,
            state=self._state,
            last_error=self._last_error,
            seconds_since_contact=None if contact is None else time.monotonic() - contact,
        )

    def _note_contact(self, store_version: int) -> None:
        self._store_version = max(self._store_version, store_version)
        self._last_contact = time.monotonic()
        if self._state == "unreachable":
            log.info("catalog store %s answers again", self._store.url)
            self._state = "ok"

    def _note_unreachable(self, error: Exception) -> None:
        if self._state == "failed":
            return
        if self._state != "unreachable":
            log.warning("catalog store %s unreachable: %s", self._store.url, error)
        self._state, self._last_error = "unreachable", str(error)

    def _stop_following(self, reason: str) -> None:
        """Marks the follower failed: readers keep the applied version, health() says why."""
        self._state, self._last_error = "failed", reason
        log.error("catalog follower stopped: %s", reason)

    def _check_not_failed(self) -> None:
        if self._state == "failed":
            raise CatalogStoreError(f"this catalog follower stopped: {self._last_error}")

    # -- following ------------------------------------------------------------------------------
    def start(self) -> StoreFollower:
        """Starts following the store on a daemon thread (once)."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._follow, name="grlm-store-follower", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stops the following thread (it ends within one wait of the store)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _follow(self) -> None:
        retry, listening = self.poll_interval, False
        while not self._stopping.is_set():
            try:
                if not listening:  # listen first, then look: no commit falls between the two
                    self._store.wait_for_commit(0)
                    listening = True
                self.catch_up()
                retry = self.poll_interval
                self._store.wait_for_commit(self.poll_interval)
            except StoreUnavailableError as error:
                self._note_unreachable(error)
                listening = False
                self._stopping.wait(retry)
                retry = min(2 * retry + 0.01, MAX_RETRY_INTERVAL_S)
            except CatalogStoreError:
                return  # failed: health() says why; readers keep the applied version
