"""Online catalog changes of a :class:`grlm.ground.Grounder` (``add_items``, ``remove_items``,
``update_items``, ``compact``) and of its token trie, through one call.

The grounder's index becomes a built base segment and a few small delta segments, with tombstones
(``grlm::UpdatableGrounder`` in the C++ core). Every answer equals that of a Grounder built from
scratch on the current catalog, whose order is a dict's: an updated item keeps its position, a
removed one disappears, an added one goes last. Readers work on an immutable snapshot: a query sees
the catalog before a change or after it, never half of it, and never waits for a writer.

A change builds a segment of its own items (sometimes merged with the newest ones), whatever
the catalog's size. Once the delta items plus the tombstones pass ``DEFAULT_COMPACT_THRESHOLD``
(1024, read when a grounder is built or loaded) the change also compacts: a full rebuild,
seconds at a million items, during which other writers wait and readers keep answering from the
previous snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from grlm.errors import InvalidInputError

# Delta items plus tombstones that trigger a compaction (grlm::UpdatableGrounder's
# kDefaultCompactThreshold; tests/test_catalog_updates.py checks that the two agree).
DEFAULT_COMPACT_THRESHOLD = 1024


@dataclass
class CatalogChange:
    """One change of a catalog, applied to a Grounder and its TokenTrie together by
    :func:`apply_catalog_change`, so constrained decoding and grounding never disagree.

    Attributes
    ----------
    add : mapping of str to sequence of str
        New items and their Term IDs (appended to the catalog).
    update : mapping of str to sequence of str
        Present items given a new Term ID (they keep their position).
    upsert : mapping of str to sequence of str
        Items to update when present, else to add (a server's "add or replace").
    remove : sequence of str
        Present items to remove.
    priors : mapping of str to float
        New priors of items in ``add``, ``update`` or ``upsert``; an added item missing here gets
        0, an updated one keeps its own.
    """

    add: Mapping[str, Sequence[str]] = field(default_factory=dict)
    update: Mapping[str, Sequence[str]] = field(default_factory=dict)
    upsert: Mapping[str, Sequence[str]] = field(default_factory=dict)
    remove: Sequence[str] = ()
    priors: Mapping[str, float] = field(default_factory=dict)

    def priors_of(self, items: Mapping[str, Sequence[str]]) -> dict[str, float] | None:
        """The priors this change gives the items of one of its steps (None: none given)."""
        given = {i: self.priors[i] for i in items if i in self.priors}
        return given or None


def apply_catalog_change(
    grounder,
    change: CatalogChange,
    *,
    trie=None,
    encode: Callable[[Sequence[str]], Sequence[int]] | None = None,
) -> None:
    """Applies ``change`` to ``grounder`` and, when given, to ``trie`` (the
    :class:`grlm.decoding.TokenTrie` of the same catalog, keyed by item id).

    ``encode`` turns a Term ID into the trie's token ids, as the trie was built: e.g.
    ``lambda terms: objective.answer_ids(tokenizer, terms)`` for a trie from
    ``Objective.trie``, or ``lambda terms: encode_answer(tokenizer, terms)`` for
    ``TokenTrie.from_items``.

    The steps are remove, update, upsert, add, each all-or-nothing. Every Term ID is encoded and
    every step checked by the grounder before the trie changes, so after an error the two still
    agree.
    Items sharing a Term ID share a trie path; removing one keeps the path alive for the others
    (the trie counts items, not sequences). A decoding step running during the change may see the
    trie before or after each step.
    """
    if (trie is None) != (encode is None):
        raise InvalidInputError("apply_catalog_change needs both trie and encode, or neither")
    tokens = {}
    if trie is not None:
        # Encoded before anything changes: an encoder error leaves both as they were.
        for mapping in (change.update, change.upsert, change.add):
            for item_id, terms in mapping.items():
                tokens[item_id] = list(encode(list(terms)))
    if change.remove:
        grounder.remove_items(change.remove)
        if trie is not None:
            for item_id in change.remove:
                trie.remove(item_id)
    if change.update:
        grounder.update_items(change.update, priors=change.priors_of(change.update))
        if trie is not None:
            for item_id in change.update:
                trie.remove(item_id)
            trie.add_sequences({i: tokens[i] for i in change.update})
    if change.upsert:
        grounder.upsert_items(change.upsert, priors=change.priors_of(change.upsert))
        if trie is not None:
            for item_id in change.upsert:
                trie.remove(item_id)  # False for a new item
            trie.add_sequences({i: tokens[i] for i in change.upsert})
    if change.add:
        grounder.add_items(change.add, priors=change.priors_of(change.add))
        if trie is not None:
            trie.add_sequences({i: tokens[i] for i in change.add})
