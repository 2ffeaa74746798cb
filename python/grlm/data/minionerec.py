"""Loader of the MiniOneRec format: ``items.json`` plus ``valid.csv`` / ``test.csv``.

MiniOneRec (see ``../shared/data/industrial``) releases the validation and test files of a global
chronological 8:1:1 split of the interactions. Each CSV row is one interaction of the later
period: ``user_id``, ``history_item_id`` (a Python-list literal holding at most the 10 most
recent earlier items of the user) and the target ``item_id``. The training file is not released.

How sequences are rebuilt, and what is approximate
--------------------------------------------------
Per user, the rows of ``valid.csv`` then ``test.csv`` are walked in file order: the first row's
history starts the sequence and every row's target is appended. Each later row's history must be
a suffix of the sequence built so far (checked; an inconsistent file raises). So the sequence of a
user is exact from the first history item on, but:

* interactions of the training period older than the first row's (10-item) history are lost, and
  users with no interaction in the validation or test period are absent altogether;
* the first interaction of a user inside the validation/test period has no history, so MiniOneRec
  wrote no row for it; it can only reappear inside a later row's history and is then labelled as a
  training-period interaction.

Each interaction gets a period label stored as its timestamp: 0 for items seen only in histories
(training period), 1 for targets of ``valid.csv``, 2 for targets of ``test.csv``. Hence
``chronological_split(dataset, valid_start=1, test_start=2)`` rebuilds MiniOneRec's own split
(see :func:`minionerec_split`), while ``leave_one_out`` works on the rebuilt sequences as on any
other dataset.
"""

from __future__ import annotations

import ast
import csv
import os
from pathlib import Path

from grlm._io import open_text, require_file
from grlm.data._io import read_json_object
from grlm.data.schema import Dataset, Item
from grlm.errors import InvalidInputError

ITEMS_FILE = "items.json"
SPLIT_FILES = (("valid.csv", 1.0), ("test.csv", 2.0))
REQUIRED_COLUMNS = ("user_id", "history_item_id", "item_id")


def is_minionerec_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds ``items.json`` and ``test.csv``."""
    path = Path(path)
    return (path / ITEMS_FILE).is_file() and (path / "test.csv").is_file()


def _literal_list(text: str) -> list:
    """Parses a Python-list literal such as ``"['a', 'b']"``; plain text becomes ``[text]``."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return [text]
        if isinstance(value, list):
            return value
    return [text]


def clean_text(text) -> str:
    """Collapses whitespace; lists (paragraphs) are joined with a space."""
    if isinstance(text, list):
        text = " ".join(str(part) for part in text)
    return " ".join(str(text).split())


def read_items(path: str | os.PathLike) -> dict[str, Item]:
    """Reads MiniOneRec's ``items.json`` (``{"id": {"title", "description", "brand",
    "categories"}}``); ``description`` and ``categories`` may be Python-list literals."""
    path = Path(path)
    raw = read_json_object(path, "fields")
    items: dict[str, Item] = {}
    for item_id, fields in raw.items():
        if not isinstance(fields, dict):
            raise InvalidInputError(f"{path}: item {item_id!r} is not an object")
        description = fields.get("description", "")
        if isinstance(description, str):
            description = _literal_list(description)
        categories = fields.get("categories", "")
        if isinstance(categories, str):
            categories = _literal_list(categories)
        items[str(item_id)] = Item(
            item_id=str(item_id),
            title=clean_text(fields.get("title", "")),
            description=clean_text(description),
            brand=clean_text(fields.get("brand", "")),
            categories=tuple(c for c in (clean_text(c) for c in categories) if c),
        )
    return items


def _read_rows(path: Path, items: dict[str, Item]) -> list[tuple[str, list[str], str]]:
    rows = []
    with open_text(require_file(path)) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {missing}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                history = ast.literal_eval(row["history_item_id"])
            except (ValueError, SyntaxError):
                raise InvalidInputError(
                    f"{where}: malformed history_item_id {row['history_item_id']!r}"
                ) from None
            if not isinstance(history, list):
                raise InvalidInputError(f"{where}: history_item_id is not a list")
            history = [str(h) for h in history]
            target = str(row["item_id"]).strip()
            for item_id in [*history, target]:
                if item_id not in items:
                    raise InvalidInputError(f"{where}: unknown item id {item_id!r}")
            rows.append((str(row["user_id"]), history, target))
    if not rows:
        raise InvalidInputError(f"{path} holds no rows")
    return rows


def load_minionerec(path: str | os.PathLike, *, name: str | None = None) -> Dataset:
    """Loads a MiniOneRec-format directory, rebuilding per-user sequences (see module docstring
    for what is approximate).

    Parameters
    ----------
    path : str or PathLike
        Directory with ``items.json``, ``valid.csv`` (optional) and ``test.csv``.
    name : str, optional
        Dataset name; defaults to the directory name.

    Returns
    -------
    Dataset
        With period labels (0 train, 1 valid, 2 test) as timestamps.

    Raises
    ------
    InvalidInputError
        On malformed rows, unknown item ids, or a row whose history contradicts the user's
        earlier rows.
    """
    path = Path(path)
    items = read_items(path / ITEMS_FILE)
    sequences: dict[str, list[str]] = {}
    periods: dict[str, list[float]] = {}
    for file_name, period in SPLIT_FILES:
        file_path = path / file_name
        if file_name != "test.csv" and not file_path.exists():
            continue
        for user, history, target in _read_rows(file_path, items):
            seq = sequences.get(user)
            if seq is None:
                seq = sequences[user] = list(history)
                periods[user] = [0.0] * len(history)
            elif history and seq[-len(history) :] != history:
                raise InvalidInputError(
                    f"{file_path}: history {history} of user {user!r} is not the end of the "
                    f"user's earlier interactions {seq[-len(history) :]}"
                )
            seq.append(target)
            periods[user].append(period)
    source = (
        f"MiniOneRec format from {path}; sequences rebuilt from valid/test histories "
        "(training interactions older than the first 10-item history are lost; "
        "timestamps are period labels 0=train 1=valid 2=test)"
    )
    dataset = Dataset(
        name=name or path.name, items=items, sequences=sequences, timestamps=periods, source=source
    )
    dataset.validate()
    return dataset
