"""Loader of the GRLM/P5 format: ``sequential_data.txt`` plus ``item_id2tid.json``.

``sequential_data.txt`` holds one user per line, ``user_id item_id item_id ...`` with the items in
chronological order (this is how the GRLM authors release Amazon Beauty, see
``../shared/data/beauty``). ``item_id2tid.json`` maps every item id to its Term ID, a list of
terms; the release has no item titles, so the Term IDs are the only item text.
"""

from __future__ import annotations

import os
from pathlib import Path

from grlm._io import open_text, require_file
from grlm.data._io import read_json_object
from grlm.data.schema import Dataset, Item
from grlm.errors import InvalidInputError

SEQUENCES_FILE = "sequential_data.txt"
TERMS_FILE = "item_id2tid.json"


def is_p5_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding ``sequential_data.txt``."""
    return (Path(path) / SEQUENCES_FILE).is_file()


def read_term_ids(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Reads ``item_id2tid.json`` (``{"item_id": [term, ...]}``).

    Raises
    ------
    InvalidInputError
        On malformed JSON, a non-list value, or an empty term.
    """
    path = Path(path)
    raw = read_json_object(path, "terms")
    terms: dict[str, tuple[str, ...]] = {}
    for item_id, value in raw.items():
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(t, str) and t.strip() for t in value)
        ):
            raise InvalidInputError(
                f"{path}: item {item_id!r} has an invalid Term ID {value!r} "
                "(expected a non-empty list of non-empty strings)"
            )
        terms[str(item_id)] = tuple(t.strip() for t in value)
    return terms


def load_p5(
    path: str | os.PathLike, *, name: str | None = None, require_terms: bool = True
) -> Dataset:
    """Loads a GRLM/P5-format directory.

    Parameters
    ----------
    path : str or PathLike
        Directory with ``sequential_data.txt`` and (normally) ``item_id2tid.json``.
    name : str, optional
        Dataset name; defaults to the directory name.
    require_terms : bool, default True
        When true, ``item_id2tid.json`` must exist and every item of the sequences must have a
        Term ID. When false and the file is absent, items get ``terms=None``.

    Returns
    -------
    Dataset
        One item per id that occurs in the sequences or in ``item_id2tid.json``; no timestamps
        (the format has none, only the order).

    Raises
    ------
    InvalidInputError
        On an empty file, a line with a user but no items, a duplicate user, or (with
        ``require_terms``) an item id missing from ``item_id2tid.json``.
    """
    path = Path(path)
    seq_path = require_file(path / SEQUENCES_FILE)
    terms_path = path / TERMS_FILE
    terms: dict[str, tuple[str, ...]] = {}
    if terms_path.exists() or require_terms:
        terms = read_term_ids(terms_path)
    sequences: dict[str, list[str]] = {}
    with open_text(seq_path) as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise InvalidInputError(
                    f"{seq_path}:{lineno}: user {fields[0]!r} has no items "
                    "(expected 'user_id item_id item_id ...')"
                )
            user, seq = fields[0], fields[1:]
            if user in sequences:
                raise InvalidInputError(f"{seq_path}:{lineno}: duplicate user id {user!r}")
            if terms:
                for item_id in seq:
                    if item_id not in terms:
                        raise InvalidInputError(
                            f"{seq_path}:{lineno}: item id {item_id!r} has no "
                            f"Term ID in {terms_path.name}"
                        )
            sequences[user] = seq
    if not sequences:
        raise InvalidInputError(f"{seq_path} holds no user sequences")
    item_ids = list(terms)
    seen = set(item_ids)
    for seq in sequences.values():
        for item_id in seq:
            if item_id not in seen:
                seen.add(item_id)
                item_ids.append(item_id)
    items = {i: Item(item_id=i, terms=terms.get(i)) for i in item_ids}
    source = f"GRLM/P5 format from {path}"
    dataset = Dataset(name=name or path.name, items=items, sequences=sequences, source=source)
    dataset.validate()
    return dataset
