"""Fingerprints of what a stage read: a stage is up to date when its recorded fingerprint
equals the fingerprint of its configuration and inputs now."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | None) -> str | None:
    """The SHA-256 of a file's bytes: what a stage read, wherever the file lies and whenever it
    was copied (an mtime would change on every fresh copy of the data and rerun everything)."""
    if not path:
        return None
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path} does not exist")
    digest = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def items_digest(items) -> str:
    """SHA-256 of a catalog's items (ids, texts, Term IDs) in id order."""
    rows = [dataclasses.astuple(items[i]) for i in sorted(items)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def dataset_digest(dataset) -> str:
    """SHA-256 of a dataset's content: its items, and every user's interactions and times."""
    timestamps = dataset.timestamps or {}
    users = [(u, dataset.sequences[u], timestamps.get(u)) for u in sorted(dataset.sequences)]
    return digest({"items": items_digest(dataset.items), "users": users})
