"""Collisions — several items with one Term ID — found and resolved.

Resolution keeps the earliest item (catalog order) of each group and changes the later ones:
first by asking the model again with the taken Term ID shown as "must differ", then by
replacing the item's weakest (last) term with a distinguishing word from its own text.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from grlm.term_ids import normalize_term
from grlm.terms.parse import validate_terms
from grlm.terms.stopwords import PRODUCT_STOPWORDS

__all__ = ["CollisionReport", "distinguishing_words", "find_collisions", "resolve_collisions"]

TermId = tuple[str, ...]
# (item_id, Term IDs to differ from) -> proposed Term IDs (None where the model gave nothing legal)
Regenerate = Callable[[Sequence[tuple[str, Sequence[TermId]]], int], Mapping[str, TermId | None]]

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
# The field labels of grlm.terms.text.item_text are not words of the item.
_LABEL = re.compile(r"^(?:Title|Brand|Categories|Description):", re.MULTILINE)


def find_collisions(term_ids: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Groups of two or more item ids sharing one Term ID, each group and the list in the order
    the items first appear in ``term_ids``."""
    groups: dict[TermId, list[str]] = defaultdict(list)
    for item_id, terms in term_ids.items():
        groups[tuple(terms)].append(item_id)
    return [members for members in groups.values() if len(members) > 1]


def distinguishing_words(
    text: str, document_frequency: Mapping[str, int] | None = None
) -> list[str]:
    """Candidate terms from an item's own text, most distinguishing first.

    Words (starting with a letter, hyphenated parts kept) of three or more characters that are not
    stop words, normalized, field labels of :func:`~grlm.terms.text.item_text` skipped; ranked by
    how few items' texts hold them (``document_frequency``), then by first position. Without
    frequencies the text order is kept.
    """
    seen: dict[str, int] = {}
    for match in _WORD.finditer(_LABEL.sub(" ", text)):
        word = normalize_term(match.group())
        if len(word) >= 3 and word not in PRODUCT_STOPWORDS and word not in seen:
            seen[word] = len(seen)
    words = list(seen)
    if document_frequency is not None:
        words.sort(key=lambda w: (document_frequency.get(w, 0), seen[w]))
    return words


def document_frequencies(texts: Mapping[str, str]) -> Counter[str]:
    """How many texts hold each candidate word (for :func:`distinguishing_words`)."""
    counts: Counter[str] = Counter()
    for text in texts.values():
        counts.update(set(distinguishing_words(text)))
    return counts


@dataclass
class CollisionReport:
    """What :func:`resolve_collisions` did; item ids in catalog order."""

    groups_before: int = 0
    items_in_collisions_before: int = 0
    changed_by_regeneration: list[str] = field(default_factory=list)
    changed_by_text: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    groups_after: int = 0
    items_in_collisions_after: int = 0

    def as_dict(self) -> dict:
        return {
            "groups_before": self.groups_before,
            "items_in_collisions_before": self.items_in_collisions_before,
            "items_to_change": self.items_in_collisions_before - self.groups_before,
            "changed_by_regeneration": len(self.changed_by_regeneration),
            "changed_by_text": len(self.changed_by_text),
            "unresolved": self.unresolved,
            "groups_after": self.groups_after,
            "items_in_collisions_after": self.items_in_collisions_after,
        }


def _replace_from_text(
    terms: TermId, candidates: Sequence[str], taken: set[TermId]
) -> TermId | None:
    # Weakest position first: the last term is the "unique selling point" slot.
    for position in range(len(terms) - 1, -1, -1):
        for word in candidates:
            if word in terms:
                continue
            proposal = terms[:position] + (word,) + terms[position + 1 :]
            if proposal not in taken:
                return proposal
    return None


def resolve_collisions(
    term_ids: Mapping[str, TermId],
    *,
    texts: Mapping[str, str],
    regenerate: Regenerate | None = None,
    rounds: int = 2,
    num_terms: int = 5,
    max_words: int = 3,
) -> tuple[dict[str, TermId], CollisionReport]:
    """Makes every Term ID unique, changing only the later items of each collision group.

    Parameters
    ----------
    term_ids : mapping of item id to Term ID
        In catalog order: the first item of a group keeps its Term ID.
    texts : mapping of item id to text
        Item texts (for distinguishing words); every item of ``term_ids`` must be present.
    regenerate : callable, optional
        ``regenerate(requests, round)`` with requests ``[(item_id, [Term IDs to differ from])]``
        returns proposals per item id; ``None`` skips the model step.
    rounds : int
        Calls of ``regenerate`` (the callable may decode differently per round).

    Returns
    -------
    (dict, CollisionReport)
        The new Term IDs (same order) and what was done.
    """
    result = dict(term_ids)
    groups = find_collisions(result)
    report = CollisionReport(
        groups_before=len(groups), items_in_collisions_before=sum(len(g) for g in groups)
    )
    position = {item_id: i for i, item_id in enumerate(result)}
    to_change = sorted((m for g in groups for m in g[1:]), key=position.__getitem__)
    # Every Term ID kept so far is taken: a fix must avoid all of them, not only its group's.
    changing = set(to_change)
    taken = {terms for item_id, terms in result.items() if item_id not in changing}
    pending = to_change
    for round_index in range(rounds if regenerate is not None else 0):
        if not pending:
            break
        proposals = regenerate([(item_id, [result[item_id]]) for item_id in pending], round_index)
        still = []
        for item_id in pending:
            proposal = proposals.get(item_id)
            if (
                proposal is not None
                and tuple(proposal) not in taken
                and not validate_terms(proposal, num_terms=num_terms, max_words=max_words)
            ):
                result[item_id] = tuple(proposal)
                taken.add(tuple(proposal))
                report.changed_by_regeneration.append(item_id)
            else:
                still.append(item_id)
        pending = still
    frequencies = document_frequencies(texts)
    for item_id in pending:
        words = distinguishing_words(texts[item_id], frequencies)
        proposal = _replace_from_text(result[item_id], words, taken)
        if proposal is None:
            report.unresolved.append(item_id)
            continue
        result[item_id] = proposal
        taken.add(proposal)
        report.changed_by_text.append(item_id)
    after = find_collisions(result)
    report.groups_after = len(after)
    report.items_in_collisions_after = sum(len(g) for g in after)
    return result, report
