"""The canonical dataset records every stage of grlm reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from grlm.errors import InvalidInputError


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
    """Items plus each user's interactions in chronological order (item ids).

    Attributes
    ----------
    name : str
        Short name used in reports (``"beauty"``, ``"ml-100k"``, ...).
    items : dict[str, Item]
        The catalog, keyed by item id. Every item id of ``sequences`` is a key here.
    sequences : dict[str, list[str]]
        Per user id, the item ids the user interacted with, oldest first.
    timestamps : dict[str, list[float]] or None
        Per user id, one time per interaction of ``sequences`` (non-decreasing), when the source
        has them; needed by :func:`grlm.data.chronological_split`.
    source : str
        Free text saying where the data came from and what is approximate about it.
    """

    name: str
    items: dict[str, Item]
    sequences: dict[str, list[str]] = field(default_factory=dict)
    timestamps: dict[str, list[float]] | None = None
    source: str = ""

    @property
    def num_users(self) -> int:
        return len(self.sequences)

    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def num_interactions(self) -> int:
        return sum(len(seq) for seq in self.sequences.values())

    def validate(self) -> None:
        """Checks the invariants every loader guarantees.

        Raises
        ------
        InvalidInputError
            On an empty dataset, an empty user sequence, an item id that is not in ``items``, a
            mismatched item key, or timestamps that do not align with the sequences.
        """
        if not self.items:
            raise InvalidInputError(f"dataset {self.name!r} has no items")
        if not self.sequences:
            raise InvalidInputError(f"dataset {self.name!r} has no user sequences")
        for key, item in self.items.items():
            if key != item.item_id:
                raise InvalidInputError(f"items[{key!r}] holds item id {item.item_id!r}")
        for user, seq in self.sequences.items():
            if not seq:
                raise InvalidInputError(f"user {user!r} has an empty sequence")
            for item_id in seq:
                if item_id not in self.items:
                    raise InvalidInputError(f"user {user!r} has unknown item id {item_id!r}")
        if self.timestamps is not None:
            if self.timestamps.keys() != self.sequences.keys():
                raise InvalidInputError("timestamps and sequences hold different users")
            for user, times in self.timestamps.items():
                if len(times) != len(self.sequences[user]):
                    raise InvalidInputError(
                        f"user {user!r} has {len(times)} timestamps for "
                        f"{len(self.sequences[user])} interactions"
                    )
                if any(b < a for a, b in pairwise(times)):
                    raise InvalidInputError(f"timestamps of user {user!r} are not sorted")

    def summary(self) -> dict:
        """Counts describing the dataset (users, items, interactions, lengths, text coverage).

        Returns
        -------
        dict
            JSON-serialisable counts; ``density`` is interactions / (users * items).
        """
        lengths = sorted(len(seq) for seq in self.sequences.values())
        n = len(lengths)
        interactions = sum(lengths)
        used = {item_id for seq in self.sequences.values() for item_id in seq}
        return {
            "name": self.name,
            "users": n,
            "items": self.num_items,
            "items_interacted": len(used),
            "interactions": interactions,
            "avg_sequence_length": interactions / n if n else 0.0,
            "median_sequence_length": lengths[n // 2] if n else 0,
            "min_sequence_length": lengths[0] if n else 0,
            "max_sequence_length": lengths[-1] if n else 0,
            "users_under_3": sum(1 for x in lengths if x < 3),
            "density": interactions / (n * self.num_items) if n and self.num_items else 0.0,
            "items_with_title": sum(1 for it in self.items.values() if it.title),
            "items_with_description": sum(1 for it in self.items.values() if it.description),
            "items_with_terms": sum(1 for it in self.items.values() if it.terms),
            "has_timestamps": self.timestamps is not None,
            "source": self.source,
        }
