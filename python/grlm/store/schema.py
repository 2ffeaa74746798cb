"""The tables of a catalog store, the same on SQLite and PostgreSQL (the type names differ).

- ``grlm_meta``: key/value settings: the schema version, the catalog's id and fixed settings;
- ``grlm_head``: one row, the catalog's last committed version (the one sequence of the whole
  catalog), its item count and the next free position;
- ``grlm_items``: the catalog at that version, one row per item (``position`` orders them: an
  updated item keeps its own, an added one takes the next);
- ``grlm_changes``: every committed change, by version (a JSON document each);
- ``grlm_checkpoints``: the saved indexes, by the version they hold (PostgreSQL keeps the
  index's bytes in ``data``; SQLite keeps files beside the database and leaves it NULL).

Every change updates ``grlm_head``, ``grlm_items`` and ``grlm_changes`` in one transaction.
"""

from __future__ import annotations

# Raised when the tables change; a store of another version is refused, not guessed at.
SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE grlm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE grlm_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version {int} NOT NULL,
    items {int} NOT NULL,
    next_position {int} NOT NULL
);
CREATE TABLE grlm_items (
    item_id TEXT PRIMARY KEY,
    position {int} NOT NULL UNIQUE,
    terms TEXT NOT NULL,
    prior {real} NOT NULL
);
CREATE TABLE grlm_changes (
    version {int} PRIMARY KEY,
    change TEXT NOT NULL,
    committed_at {real} NOT NULL
);
CREATE TABLE grlm_checkpoints (
    version {int} PRIMARY KEY,
    size {int} NOT NULL,
    sha256 TEXT NOT NULL,
    written_at {real} NOT NULL,
    data {blob}
);
"""

TYPES = {
    "sqlite": {"int": "INTEGER", "real": "REAL", "blob": "BLOB"},
    "postgresql": {"int": "BIGINT", "real": "DOUBLE PRECISION", "blob": "BYTEA"},
}


def create_statements(dialect: str) -> list[str]:
    """The CREATE TABLE statements of one dialect ("sqlite" or "postgresql")."""
    text = _TABLES.format(**TYPES[dialect])
    return [statement.strip() for statement in text.split(";") if statement.strip()]
