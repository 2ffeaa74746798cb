"""The canonical dataset records every stage of grlm reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One catalog item. Text fields are empty strings when unknown; ``terms`` is the item's
    Term ID when one is known (e.g. the GRLM authors' Term IDs for Beauty)."""

    item_id: str
    title: str = ""
    description: str = ""
    brand: str = ""
    categories: tuple[str, ...] = ()
    terms: tuple[str, ...] | None = None


@dataclass
class Dataset:
    """Items plus each user's interactions in chronological order (item ids)."""

    name: str
    items: dict[str, Item]
    sequences: dict[str, list[str]] = field(default_factory=dict)
