"""Plain-Python grounding: the oracle of the tests and the baseline of the benchmarks.

Small and literal on purpose. Bag mode follows the official GRLM code: for each generated term,
loop over the whole term vocabulary, and credit every item once per occurrence of the credited
term in its Term ID (the official index appends a Term ID to a term's list once per occurrence).
Scores use the same arithmetic as the compiled core (positional: float sums in increasing
position; bag: integer units, see ``item_score.h``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grlm.term_ids import normalize_term

BAG_EXACT, BAG_PARTIAL = 5, 4
BAG_WEIGHT_SCALE = 720720  # lcm(1..16): 1/(j+1) in exact integer units
BAG_UNITS_PER_POINT = 5.0 * 720720.0


class ReferenceGrounder:
    def __init__(
        self,
        term_ids: Mapping[str, Sequence[str]],
        *,
        mode: str = "positional",
        weights: Sequence[float] | None = None,
        term_id_length: int | None = None,
        priors: Mapping[str, float] | None = None,
    ):
        self.item_ids = list(term_ids)
        self.terms = [[normalize_term(t) for t in term_ids[i]] for i in self.item_ids]
        self.length = term_id_length or max(len(t) for t in self.terms)
        self.mode = mode
        # The defaults of the compiled core (1 / (j + 1)), written out: this is the oracle.
        self.weights = list(weights) if weights else [1.0 / (j + 1) for j in range(self.length)]
        prior = [float((priors or {}).get(i, 0.0)) for i in self.item_ids]
        self.tie_key = [(-prior[i], i) for i in range(len(self.item_ids))]
        self.vocab: list[str] = []
        # term -> its items, an item once per occurrence of the term (as the official index).
        self.items_with_term: dict[str, list[int]] = {}
        for index, terms in enumerate(self.terms):
            for term in terms:
                if term not in self.items_with_term:
                    self.vocab.append(term)
                    self.items_with_term[term] = []
                self.items_with_term[term].append(index)

    def direct(self, query: Sequence[str]) -> list[int]:
        query = [normalize_term(t) for t in query]
        hits = [i for i, terms in enumerate(self.terms) if terms == query]
        return sorted(hits, key=lambda i: self.tie_key[i])

    def scores(self, query: Sequence[str]) -> list[float]:
        query = [normalize_term(t) for t in query]
        if self.mode == "positional":
            return [self._positional(query, terms) for terms in self.terms]
        units = [0] * len(self.terms)
        for j, generated in enumerate(query):
            weight = BAG_WEIGHT_SCALE // (j + 1)
            for term in self.vocab:
                if generated == term:
                    credit = BAG_EXACT
                elif generated in term or term in generated:
                    credit = BAG_PARTIAL
                else:
                    continue
                for item in self.items_with_term[term]:
                    units[item] += credit * weight
        return [u / BAG_UNITS_PER_POINT for u in units]

    def _positional(self, query: list[str], terms: list[str]) -> float:
        score = 0.0
        for j in range(self.length):
            if j < len(query) and j < len(terms) and query[j] == terms[j]:
                score += self.weights[j]
        return score

    def structural(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        scores = self.scores(query)
        ranked = sorted(
            (i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], self.tie_key[i])
        )
        return [(i, scores[i]) for i in ranked[:k]]

    def ground(self, query: Sequence[str], k: int) -> tuple[str, list[int], list[float]]:
        """(hit type, item indices, scores), like ``Grounder.ground``."""
        direct = self.direct(query)[:k]
        if direct:
            scores = self.scores(query)
            return "direct", direct, [scores[i] for i in direct]
        top = self.structural(query, k)
        return ("structural" if top else "none"), [i for i, _ in top], [s for _, s in top]


class DictDirectMap:
    """The usual pure-Python direct mapping: a dict from the joined normalized Term ID to items."""

    SEPARATOR = "\x1f"

    def __init__(self, term_ids: Mapping[str, Sequence[str]]):
        self.table: dict[str, list[int]] = {}
        for index, terms in enumerate(term_ids.values()):
            key = self.SEPARATOR.join(normalize_term(t) for t in terms)
            self.table.setdefault(key, []).append(index)

    def lookup(self, query: Sequence[str]) -> list[int]:
        return self.table.get(self.SEPARATOR.join(normalize_term(t) for t in query), [])
