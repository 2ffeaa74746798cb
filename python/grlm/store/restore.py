"""A process's start from a store: the newest checkpoint that loads, plus the changes committed
after it. A checkpoint that is missing, damaged or not of this catalog is passed over for the
one before it; with none left, the catalog is built from the store's items (which always hold
the newest version)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grlm.errors import (
    CatalogStoreError,
    ChangesPrunedError,
    IndexFileError,
    StoreUnavailableError,
)
from grlm.ground.grounder import Grounder
from grlm.store.base import CatalogStore, CheckpointInfo
from grlm.store.catalog import CatalogConfig
from grlm.store.replay import apply_changes

log = logging.getLogger("grlm.store")


@dataclass(frozen=True)
class Restored:
    """A Grounder holding the store's catalog at ``version``.

    Attributes
    ----------
    checkpoint : CheckpointInfo or None
        The checkpoint it was loaded from; None when it was built from the store's items.
    replayed : int
        Changes applied after the checkpoint.
    skipped : tuple of str
        Why each newer checkpoint could not be used.
    """

    grounder: Grounder
    version: int
    checkpoint: CheckpointInfo | None
    replayed: int
    skipped: tuple[str, ...]


def restore(store: CatalogStore, *, device: str = "cpu") -> Restored:
    """Loads the store's catalog at its newest version (see the module's docstring).
    StoreUnavailableError when the store cannot be reached."""
    skipped: list[str] = []
    for checkpoint in store.checkpoints():
        try:
            grounder = store.load_checkpoint(checkpoint, device=device)
        except StoreUnavailableError:
            raise
        except (IndexFileError, CatalogStoreError, OSError) as error:
            skipped.append(_passed_over(checkpoint, str(error)))
            continue
        if CatalogConfig.of(grounder) != store.config:
            skipped.append(_passed_over(checkpoint, "its mode, weights or Term ID length differ"))
            continue
        try:
            changes = store.changes_since(checkpoint.version)
        except ChangesPrunedError:  # newer checkpoints were written meanwhile: the items hold all
            skipped.append(_passed_over(checkpoint, "the changes after it were pruned meanwhile"))
            continue
        apply_changes(grounder, changes, unread=True)
        version = changes[-1].version if changes else checkpoint.version
        return Restored(grounder, version, checkpoint, len(changes), tuple(skipped))
    catalog = store.catalog()
    return Restored(catalog.grounder(device=device), catalog.version, None, 0, tuple(skipped))


def _passed_over(checkpoint: CheckpointInfo, reason: str) -> str:
    message = f"checkpoint of version {checkpoint.version} ({checkpoint.location}): {reason}"
    log.warning("passed over %s", message)
    return message
