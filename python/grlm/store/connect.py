"""Opening and creating a catalog store by URL: ``sqlite:///path.db`` (relative) or
``sqlite:////abs/path.db``, and ``postgresql://user@host:port/db`` (``postgres://`` too)."""

from __future__ import annotations

from grlm.errors import InvalidInputError
from grlm.ground.grounder import Grounder
from grlm.store.base import CatalogStore, redacted

SCHEMES = ("sqlite", "postgresql", "postgres")


def _backend(url: str) -> type[CatalogStore]:
    if not isinstance(url, str):
        raise TypeError(f"a store URL is a str, got {type(url).__name__}")
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme == "sqlite":
        from grlm.store.sqlite import SqliteCatalogStore

        return SqliteCatalogStore
    if scheme in ("postgresql", "postgres"):
        from grlm.store.postgres import PostgresCatalogStore

        return PostgresCatalogStore
    raise InvalidInputError(
        f"a catalog store URL starts with sqlite:/// or postgresql://, got {redacted(url)!r}"
    )


def open_store(url: str) -> CatalogStore:
    """Opens the catalog store at ``url``. InvalidInputError for a URL of no known kind;
    CatalogStoreError when no store is there (a missing file, no grlm tables) or it has another
    schema version; StoreUnavailableError when the server cannot be reached."""
    return _backend(url)(url)


def create_store(url: str, grounder: Grounder) -> CatalogStore:
    """Creates a catalog store at ``url`` holding ``grounder``'s catalog as version 0 (with
    a first checkpoint of it) and returns it open. A SQLite file must not exist yet; a
    PostgreSQL database must exist and hold no store yet (CatalogStoreError otherwise)."""
    if not isinstance(grounder, Grounder):
        raise TypeError(f"a store is created from a Grounder, got {type(grounder).__name__}")
    return _backend(url)(url, new_catalog=grounder)
