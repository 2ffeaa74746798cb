"""Fuzz target: Grounder.ground and ground_batch against grlm.ground.reference on catalogs and
queries drawn from the input (both modes, priors, collisions, unknown and odd Unicode terms)."""

from __future__ import annotations

import _harness

# Few distinct words, so that equal terms, substrings and collisions are common.
WORDS = [
    "a",
    "ab",
    "abc",
    "b",
    "bc",
    "hair",
    "hair-mask",
    "mask",
    "water bottle",
    "Water  Bottle",
    "se",
    "serum",
    "é",
    "éa",
    "zz",
]


def test_one_input(data: bytes) -> None:
    import byte_provider as provider
    from grlm.errors import InvalidInputError
    from grlm.ground import Grounder
    from grlm.ground.reference import ReferenceGrounder

    fdp = provider.Provider(data)
    length = fdp.int(1, 5)
    mode = "bag" if fdp.int(0, 1) else "positional"

    def term() -> str:
        return fdp.pick(WORDS) if fdp.int(0, 7) else fdp.text(6)

    term_ids = {f"i{n}": [term() for _ in range(fdp.int(1, length))] for n in range(fdp.int(1, 12))}
    priors = {key: float(fdp.int(0, 3)) for key in term_ids if fdp.int(0, 1)} or None
    try:
        grounder = Grounder(term_ids, mode=mode, term_id_length=length, priors=priors)
    except InvalidInputError:
        return  # e.g. a term that normalizes to nothing: no catalog to compare
    reference = ReferenceGrounder(term_ids, mode=mode, term_id_length=length, priors=priors)
    queries = [[term() for _ in range(fdp.int(1, length))] for _ in range(fdp.int(1, 6))]
    queries += [list(t) for t in list(term_ids.values())[:2]]
    k = fdp.int(1, 20)
    try:
        batch = grounder.ground_batch(queries, k=k, num_threads=fdp.int(0, 3))
    except InvalidInputError:
        for query in queries:  # a bad query: ground() must refuse the same one
            try:
                grounder.ground(query, k=k)
            except InvalidInputError:
                return
        raise
    for query, got in zip(queries, batch):
        hit, items, scores = reference.ground(query, k)
        assert got.hit == hit, (query, got, hit)
        assert list(got.item_ids) == [reference.item_ids[i] for i in items], (query, got, items)
        assert list(got.scores) == scores, (query, got.scores, scores)
        assert grounder.ground(query, k=k) == got
    assert batch[-1] == batch[len(batch) - 1]


if __name__ == "__main__":
    _harness.run(test_one_input)
