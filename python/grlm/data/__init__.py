"""Datasets, loaders and evaluation splits.

The canonical record is :class:`Dataset` (items + chronological user sequences). Loaders:

* :func:`load_p5` — GRLM/P5 ``sequential_data.txt`` + ``item_id2tid.json`` (Beauty);
* :func:`load_minionerec` — MiniOneRec ``items.json`` + ``valid.csv``/``test.csv`` (Industrial);
* :func:`load_amazon` — raw Amazon reviews + metadata, iterated k-core;
* :func:`load_recbole` — RecBole atomic files (MovieLens-100k);
* :func:`load_saved_dataset` / :func:`save_dataset` — the canonical JSONL directory.

:func:`load_dataset` picks the right one from a path or a short name. Splits:
:func:`leave_one_out` (default) and :func:`chronological_split`.

Example
-------
>>> from grlm.data import load_dataset, leave_one_out
>>> split = leave_one_out(load_dataset("beauty"))          # doctest: +SKIP
>>> split.test[0].history, split.test[0].target             # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from grlm.data.amazon import find_amazon_files, k_core, load_amazon
from grlm.data.minionerec import is_minionerec_dir, load_minionerec
from grlm.data.p5 import is_p5_dir, load_p5, read_term_ids
from grlm.data.recbole import find_atomic_files, load_recbole
from grlm.data.schema import Dataset, Item
from grlm.data.splits import DEFAULT_MAX_HISTORY, Example, Split, chronological_split, leave_one_out
from grlm.data.storage import is_saved_dataset, load_saved_dataset, save_dataset
from grlm.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "Dataset",
    "Example",
    "Item",
    "Split",
    "chronological_split",
    "k_core",
    "leave_one_out",
    "load_amazon",
    "load_dataset",
    "load_minionerec",
    "load_p5",
    "load_recbole",
    "load_saved_dataset",
    "make_split",
    "minionerec_split",
    "read_term_ids",
    "resolve_dataset_path",
    "save_dataset",
    "shared_data_dir",
]

#: Short names understood by :func:`load_dataset`; the shared-data ones resolve under
#: :func:`shared_data_dir`.
SHARED_NAMES = ("beauty", "industrial")
MOVIELENS_NAMES = ("ml-100k", "movielens-100k")


def shared_data_dir() -> Path | None:
    """The project's shared data folder: ``$GRLM_SHARED_DATA``, else ``shared/data`` beside the
    repository checkout or the current directory, else None."""
    env = os.environ.get("GRLM_SHARED_DATA")
    candidates = [Path(env)] if env else []
    repo_root = Path(__file__).resolve().parents[3]
    candidates += [
        repo_root.parent / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
        Path.cwd() / "shared" / "data",
    ]
    return next((c for c in candidates if c.is_dir()), None)


def resolve_dataset_path(path_or_name: str | os.PathLike) -> Path:
    """Turns a short name (``beauty``, ``industrial``, ``ml-100k``) or a path into a path.

    Raises
    ------
    FileNotFoundError
        When the name or path does not exist.
    """
    text = str(path_or_name)
    path = Path(text).expanduser()
    if path.exists():
        return path
    if text.lower() in MOVIELENS_NAMES:
        from grlm.assets import movielens_100k

        return movielens_100k()
    if text.lower() in SHARED_NAMES:
        shared = shared_data_dir()
        if shared is not None and (shared / text.lower()).is_dir():
            return shared / text.lower()
        raise FileNotFoundError(
            f"dataset {text!r}: no shared data folder found "
            "(set GRLM_SHARED_DATA to the folder holding beauty/, industrial/)"
        )
    raise FileNotFoundError(
        f"dataset {text!r} is neither an existing path nor one of {SHARED_NAMES + MOVIELENS_NAMES}"
    )


def load_dataset(path_or_name: str | os.PathLike, *, name: str | None = None) -> Dataset:
    """Loads a dataset from a directory, a file or a short name, detecting the format.

    Recognised, in this order: a saved canonical directory (``meta.json``), the GRLM/P5 format
    (``sequential_data.txt``), the MiniOneRec format (``items.json`` + ``test.csv``), RecBole
    atomic files (one ``*.inter``), raw Amazon reviews (``reviews_*.json[.gz]`` or
    ``*_5.json[.gz]`` with optional ``meta_*``; 5-core). A file path to a ``.inter`` file or a
    reviews file works too. Names: ``beauty``, ``industrial`` (shared data) and ``ml-100k``.

    Parameters
    ----------
    path_or_name : str or PathLike
    name : str, optional
        Overrides the dataset name (default: ``ml-100k`` for that name, else the folder name).

    Raises
    ------
    FileNotFoundError
        When nothing exists there.
    InvalidInputError
        When the format is not recognised or the files are malformed.
    """
    path = resolve_dataset_path(path_or_name)
    if name is None and str(path_or_name).lower() in MOVIELENS_NAMES:
        name = "ml-100k"
    if path.is_file():
        if path.suffix == ".inter":
            return load_recbole(path.parent, name=name)
        if ".json" in path.name:
            return load_amazon(path, name=name)
        raise InvalidInputError(
            f"{path}: unrecognised dataset file (expected a .inter file or "
            "an Amazon reviews .json[.gz])"
        )
    if is_saved_dataset(path):
        dataset = load_saved_dataset(path)
        if name:
            dataset.name = name
        return dataset
    if is_p5_dir(path):
        return load_p5(path, name=name)
    if is_minionerec_dir(path):
        return load_minionerec(path, name=name)
    if find_atomic_files(path) is not None:
        return load_recbole(path, name=name)
    amazon = find_amazon_files(path)
    if amazon is not None:
        return load_amazon(amazon[0], amazon[1], name=name)
    raise InvalidInputError(
        f"{path}: no known dataset format (expected meta.json, "
        "sequential_data.txt, items.json + test.csv, a .inter file, or "
        "Amazon reviews_*.json.gz)"
    )


def minionerec_split(dataset: Dataset, max_history: int | None = 10) -> Split:
    """MiniOneRec's own global chronological split of a dataset from :func:`load_minionerec`
    (period labels 1 and 2 start validation and test). Histories default to 10 items, as in
    MiniOneRec's files."""
    return chronological_split(dataset, valid_start=1.0, test_start=2.0, max_history=max_history)


def make_split(
    dataset: Dataset, protocol: str = "leave_one_out", max_history: int | None = DEFAULT_MAX_HISTORY
) -> Split:
    """Builds a split by protocol name: ``leave_one_out`` (default), ``chronological``
    (8:1:1 by time) or ``minionerec`` (the original Industrial split)."""
    if protocol == "leave_one_out":
        return leave_one_out(dataset, max_history=max_history)
    if protocol == "chronological":
        return chronological_split(dataset, max_history=max_history)
    if protocol == "minionerec":
        return minionerec_split(dataset, max_history=max_history)
    raise InvalidInputError(
        f"unknown split protocol {protocol!r} (leave_one_out, chronological, minionerec)"
    )
