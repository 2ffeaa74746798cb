"""Loader of raw Amazon Reviews files (the 2014 and 2018 releases of McAuley et al.).

Reviews: ``reviews_<Category>.json.gz`` / ``<Category>_5.json.gz`` / ``<Category>.json.gz``, one
review per line with ``reviewerID``, ``asin`` and ``unixReviewTime``. Metadata:
``meta_<Category>.json.gz``, one product per line with ``asin``, ``title``, ``description``
(a string in 2014, a list of paragraphs in 2018), ``brand`` and ``categories`` (2014, a list of
category paths) or ``category`` (2018, one path). Lines are strict JSON in most files; the 2014
metadata files hold Python dict literals, which are accepted too.

Processing: optional rating threshold, optional removal of items without metadata, then k-core
filtering iterated to a fixed point (every remaining user and item has at least ``k``
interactions), then each user's interactions sorted by time (ties keep file order). Text is
cleaned: HTML entities unescaped, tags removed, whitespace collapsed.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
from collections import Counter
from pathlib import Path

from grlm._io import open_text, require_file
from grlm.data._io import chronological_sequences
from grlm.data.schema import Dataset, Item
from grlm.errors import InvalidInputError

_TAG = re.compile(r"<[^>]+>")


def clean_text(value) -> str:
    """Unescapes HTML entities, removes tags and collapses whitespace; lists are joined with a
    space (paragraphs) and ``None`` becomes ``""``."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(t for t in (clean_text(v) for v in value) if t)
    text = html.unescape(str(value))
    text = _TAG.sub(" ", text)
    return " ".join(text.split())


def _objects(path: Path):
    """(``path:line``, object) for each non-blank line of a reviews or metadata file: strict
    JSON, or a Python dict literal (the 2014 metadata)."""
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                try:
                    obj = ast.literal_eval(line)
                except (ValueError, SyntaxError):
                    raise InvalidInputError(
                        f"{where}: malformed line (neither JSON nor a Python "
                        f"dict literal): {line[:80]!r}"
                    ) from None
            if not isinstance(obj, dict):
                raise InvalidInputError(f"{where}: expected an object, got {type(obj).__name__}")
            yield where, obj


def _categories(meta: dict) -> tuple[str, ...]:
    raw = meta.get("categories", meta.get("category"))
    if not raw:
        return ()
    paths = raw if isinstance(raw[0], list) else [raw]
    out: list[str] = []
    for path in paths:
        for name in path:
            name = clean_text(name)
            if name and name not in out:
                out.append(name)
    return tuple(out)


def read_reviews(
    path: str | os.PathLike, *, min_rating: float | None = None
) -> list[tuple[str, str, float]]:
    """Reads (user, item, time) triples from a reviews file, in file order.

    Raises
    ------
    InvalidInputError
        On an empty file, a malformed line, or a line missing ``reviewerID``/``asin``/a time.
    """
    path = require_file(Path(path))
    out = []
    for where, obj in _objects(path):
        user, item = obj.get("reviewerID"), obj.get("asin")
        time = obj.get("unixReviewTime")
        if not user or not item or time is None:
            raise InvalidInputError(f"{where}: review lacks reviewerID, asin or unixReviewTime")
        if min_rating is not None and float(obj.get("overall", 0.0)) < min_rating:
            continue
        out.append((str(user), str(item), float(time)))
    if not out:
        raise InvalidInputError(f"{path} holds no reviews")
    return out


def read_meta(path: str | os.PathLike) -> dict[str, Item]:
    """Reads a metadata file into items (cleaned text). Later duplicates of an asin are ignored."""
    path = require_file(Path(path))
    items: dict[str, Item] = {}
    for where, obj in _objects(path):
        asin = obj.get("asin")
        if not asin:
            raise InvalidInputError(f"{where}: metadata line lacks 'asin'")
        asin = str(asin)
        if asin in items:
            continue
        items[asin] = Item(
            item_id=asin,
            title=clean_text(obj.get("title")),
            description=clean_text(obj.get("description")),
            brand=clean_text(obj.get("brand")),
            categories=_categories(obj),
        )
    if not items:
        raise InvalidInputError(f"{path} holds no products")
    return items


def k_core(interactions: list[tuple[str, str, float]], k: int) -> list[tuple[str, str, float]]:
    """Keeps the interactions whose user and item both have at least ``k`` interactions,
    repeating until nothing changes (the k-core of the user-item multigraph)."""
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")
    current = interactions
    while True:
        users = Counter(u for u, _, _ in current)
        items = Counter(i for _, i, _ in current)
        kept = [x for x in current if users[x[0]] >= k and items[x[1]] >= k]
        if len(kept) == len(current):
            return kept
        current = kept


def load_amazon(
    reviews: str | os.PathLike,
    meta: str | os.PathLike | None = None,
    *,
    k: int = 5,
    min_rating: float | None = None,
    drop_items_without_meta: bool = True,
    name: str | None = None,
) -> Dataset:
    """Loads raw Amazon reviews (+ metadata) into a k-core dataset with timestamps.

    Parameters
    ----------
    reviews : str or PathLike
        Reviews file (``.json`` or ``.json.gz``).
    meta : str or PathLike, optional
        Metadata file; without it items have no text.
    k : int, default 5
        Core size; ``k=1`` keeps everything.
    min_rating : float, optional
        Drop reviews rated below this before filtering.
    drop_items_without_meta : bool, default True
        With ``meta``, drop reviews of items absent from it (before the k-core).
    name : str, optional
        Dataset name; defaults to the category taken from the reviews file name.

    Raises
    ------
    InvalidInputError
        On malformed or empty files, or when nothing survives the k-core.
    """
    reviews = Path(reviews)
    interactions = read_reviews(reviews, min_rating=min_rating)
    items_meta = read_meta(meta) if meta is not None else {}
    if meta is not None and drop_items_without_meta:
        interactions = [x for x in interactions if x[1] in items_meta]
    interactions = k_core(interactions, k)
    if not interactions:
        raise InvalidInputError(f"no interactions of {reviews} survive the {k}-core")
    per_user: dict[str, list[tuple[float, int, str]]] = {}
    for order, (user, item, time) in enumerate(interactions):
        per_user.setdefault(user, []).append((time, order, item))
    sequences, timestamps = chronological_sequences(per_user)
    used = sorted({item for _, item, _ in interactions})
    items = {i: items_meta.get(i, Item(item_id=i)) for i in used}
    if name is None:
        stem = reviews.name.split(".json")[0]
        name = stem.removeprefix("reviews_").removesuffix("_5")
    source = (
        f"Amazon reviews {reviews.name}"
        + (f" + {Path(meta).name}" if meta else "")
        + f", {k}-core"
        + (f", rating >= {min_rating}" if min_rating is not None else "")
    )
    dataset = Dataset(
        name=name, items=items, sequences=sequences, timestamps=timestamps, source=source
    )
    dataset.validate()
    return dataset


def find_amazon_files(path: str | os.PathLike) -> tuple[Path, Path | None] | None:
    """Finds (reviews, meta) files in a directory, or ``None`` when there are none."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.is_file() and ".json" in p.name)
    meta = [p for p in files if p.name.startswith("meta_")]
    reviews = [
        p
        for p in files
        if not p.name.startswith("meta_") and (p.name.startswith("reviews_") or "_5.json" in p.name)
    ]
    if len(reviews) != 1:
        return None
    if len(meta) > 1:
        raise InvalidInputError(f"{path} holds several metadata files: {[p.name for p in meta]}")
    return reviews[0], (meta[0] if meta else None)
