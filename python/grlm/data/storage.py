"""Saving and loading the canonical :class:`~grlm.data.schema.Dataset` as a directory of JSONL
files.

Layout of a saved dataset directory::

    meta.json        {"format": "grlm-dataset", "version": 1, "name": ..., "source": ...}
    items.jsonl      one item per line: item_id, title, description, brand, categories, terms
    sequences.jsonl  one user per line: user_id, items (oldest first), optional timestamps

Each file is written to a temporary file and renamed; ``meta.json`` is written last, so a
directory holding ``meta.json`` is complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from grlm._io import atomic_write_jsonl, atomic_write_text, read_jsonl, require_file
from grlm.data.schema import Dataset, Item
from grlm.errors import InvalidInputError

FORMAT = "grlm-dataset"
VERSION = 1
META_FILE = "meta.json"
ITEMS_FILE = "items.jsonl"
SEQUENCES_FILE = "sequences.jsonl"


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory written by :func:`save_dataset`."""
    return (Path(path) / META_FILE).is_file()


def save_dataset(dataset: Dataset, path: str | os.PathLike) -> Path:
    """Writes ``dataset`` into the directory ``path`` (created when missing).

    Parameters
    ----------
    dataset : Dataset
        Validated before writing.
    path : str or PathLike
        Target directory; existing dataset files in it are replaced.

    Returns
    -------
    Path
        The directory.
    """
    dataset.validate()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    items = [
        {
            "item_id": it.item_id,
            "title": it.title,
            "description": it.description,
            "brand": it.brand,
            "categories": list(it.categories),
            "terms": list(it.terms) if it.terms is not None else None,
        }
        for it in dataset.items.values()
    ]
    sequences = []
    for user, seq in dataset.sequences.items():
        record: dict = {"user_id": user, "items": seq}
        if dataset.timestamps is not None:
            record["timestamps"] = dataset.timestamps[user]
        sequences.append(record)
    (path / META_FILE).unlink(missing_ok=True)
    atomic_write_jsonl(path / ITEMS_FILE, items)
    atomic_write_jsonl(path / SEQUENCES_FILE, sequences)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": dataset.name,
        "source": dataset.source,
        "has_timestamps": dataset.timestamps is not None,
        "users": dataset.num_users,
        "items": dataset.num_items,
        "interactions": dataset.num_interactions,
    }
    atomic_write_text(path / META_FILE, json.dumps(meta, indent=2) + "\n")
    return path


def _string_list(value, where: str, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{where}: {field!r} must be a list of strings, got {value!r}")
    return value


def load_saved_dataset(path: str | os.PathLike) -> Dataset:
    """Reads a directory written by :func:`save_dataset`.

    Raises
    ------
    InvalidInputError
        On an unknown format or version, a malformed line, a duplicate id, or an item id used by a
        sequence that is not in ``items.jsonl``.
    """
    path = Path(path)
    meta_path = require_file(path / META_FILE)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{meta_path}: malformed JSON: {error}") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InvalidInputError(
            f"{meta_path}: not a {FORMAT} v{VERSION} directory "
            f"(format={meta.get('format')!r}, version={meta.get('version')!r})"
        )
    items: dict[str, Item] = {}
    items_path = path / ITEMS_FILE
    for lineno, obj in read_jsonl(require_file(items_path)):
        where = f"{items_path}:{lineno}"
        item_id = obj.get("item_id")
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInputError(f"{where}: missing or empty 'item_id'")
        if item_id in items:
            raise InvalidInputError(f"{where}: duplicate item id {item_id!r}")
        terms = obj.get("terms")
        items[item_id] = Item(
            item_id=item_id,
            title=str(obj.get("title", "")),
            description=str(obj.get("description", "")),
            brand=str(obj.get("brand", "")),
            categories=tuple(_string_list(obj.get("categories", []), where, "categories")),
            terms=tuple(_string_list(terms, where, "terms")) if terms is not None else None,
        )
    if not items:
        raise InvalidInputError(f"{items_path} holds no items")
    has_times = bool(meta.get("has_timestamps"))
    sequences: dict[str, list[str]] = {}
    timestamps: dict[str, list[float]] | None = {} if has_times else None
    seq_path = path / SEQUENCES_FILE
    for lineno, obj in read_jsonl(require_file(seq_path)):
        where = f"{seq_path}:{lineno}"
        user = obj.get("user_id")
        if not isinstance(user, str) or not user:
            raise InvalidInputError(f"{where}: missing or empty 'user_id'")
        if user in sequences:
            raise InvalidInputError(f"{where}: duplicate user id {user!r}")
        seq = _string_list(obj.get("items"), where, "items")
        if not seq:
            raise InvalidInputError(f"{where}: user {user!r} has no items")
        for item_id in seq:
            if item_id not in items:
                raise InvalidInputError(f"{where}: unknown item id {item_id!r}")
        sequences[user] = seq
        if timestamps is not None:
            times = obj.get("timestamps")
            if not isinstance(times, list) or len(times) != len(seq):
                raise InvalidInputError(f"{where}: 'timestamps' must be a list as long as 'items'")
            timestamps[user] = [float(t) for t in times]
    if not sequences:
        raise InvalidInputError(f"{seq_path} holds no user sequences")
    dataset = Dataset(
        name=str(meta.get("name", path.name)),
        items=items,
        sequences=sequences,
        timestamps=timestamps,
        source=str(meta.get("source", "")),
    )
    dataset.validate()
    return dataset
