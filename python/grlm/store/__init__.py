"""The catalog store of record: a catalog's items, every committed change (one version sequence
for the whole catalog) and checkpoints, in SQLite (one file, the default) or PostgreSQL (for
fleets), selected by URL; and the follower that keeps a process's Grounder in step with it.

>>> store = create_store("sqlite:///catalog.db", grounder)        # doctest: +SKIP
>>> follower = StoreFollower.restore(open_store("sqlite:///catalog.db")).start()  # +SKIP
>>> version = follower.commit(CatalogChange(upsert={"B0100": ["serum", "face"]}))  # +SKIP
"""

from grlm.store.base import CatalogStore, CheckpointInfo
from grlm.store.catalog import CatalogConfig, StoreCatalog
from grlm.store.changes import CommittedChange
from grlm.store.connect import create_store, open_store
from grlm.store.follower import AppliedCatalog, FollowerHealth, StoreFollower
from grlm.store.restore import Restored, restore

__all__ = [
    "AppliedCatalog",
    "CatalogConfig",
    "CatalogStore",
    "CheckpointInfo",
    "CommittedChange",
    "FollowerHealth",
    "Restored",
    "StoreCatalog",
    "StoreFollower",
    "create_store",
    "open_store",
    "restore",
]
