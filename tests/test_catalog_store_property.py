"""A property of the catalog store, on both backends: random change sequences (valid and not)
written through one follower and followed by another, with a checkpoint at a random point. The
store accepts exactly the changes a plain dict model of the catalog accepts and holds the
model's catalog; the writer, the follower and a fresh start from the store all answer exactly
as a Grounder built from the store's final catalog."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager

import pytest
from _catalog_stores import new_database
from grlm.errors import InvalidInputError
from grlm.ground import Grounder
from grlm.ground.updates import CatalogChange
from grlm.store import StoreFollower, create_store, open_store, restore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IDS = [f"i{n}" for n in range(8)]
TERMS = ["a", "b", "c", "d", "e"]
LENGTH = 3

valid_term_id = st.lists(st.sampled_from(TERMS), min_size=1, max_size=LENGTH)
# Term IDs the catalog refuses: empty, longer than LENGTH, holding an empty term.
bad_term_id = st.sampled_from([[], ["a", "b", "c", "d"], ["a", "  "]])
term_id = st.one_of(valid_term_id, valid_term_id, valid_term_id, bad_term_id)
prior = st.sampled_from([0.0, 1.0, 2.5, -1.0])
put_items = st.dictionaries(st.sampled_from(IDS), term_id, min_size=1, max_size=3)


@st.composite
def changes(draw) -> CatalogChange:
    steps = draw(st.sets(st.sampled_from(["remove", "update", "upsert", "add"]), min_size=1))
    fields: dict = {}
    if "remove" in steps:
        fields["remove"] = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3))
    for step in ("update", "upsert", "add"):
        if step in steps:
            fields[step] = draw(put_items)
    put = sorted({i for step in ("update", "upsert", "add") for i in fields.get(step, {})})
    if put:
        given_prior = draw(st.lists(st.sampled_from(put), unique=True, max_size=len(put)))
        fields["priors"] = {i: draw(prior) for i in given_prior}
    return CatalogChange(**fields)


def valid(terms) -> bool:
    return 1 <= len(terms) <= LENGTH and all(t.strip() for t in terms)


def model_apply(model: dict, change: CatalogChange) -> dict | None:
    """The catalog ``{id: (terms, prior)}`` after ``change`` (dict order = catalog order), or
    None when a Grounder would refuse the change."""
    model = dict(model)
    if len(set(change.remove)) < len(change.remove) or len(change.remove) >= len(model):
        return None
    for item_id in change.remove:
        if item_id not in model:
            return None
        del model[item_id]
    for step in ("update", "upsert", "add"):
        for item_id, terms in getattr(change, step).items():
            if not valid(terms):
                return None
            present = item_id in model
            if (step == "update" and not present) or (step == "add" and present):
                return None
            kept = model[item_id][1] if present else 0.0
            model[item_id] = (list(terms), change.priors.get(item_id, kept))
    return model


@contextmanager
def new_store_url(backend: str, request):
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/catalog.db"
        return
    with new_database(request.getfixturevalue("postgres_cluster")[0]) as url:
        yield url


def answers(grounder, queries) -> list:
    return [(r.hit, r.item_ids, r.scores) for r in grounder.ground_batch(queries, k=3)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_followers_answer_as_a_grounder_of_the_stores_catalog(backend, request, data):
    initial = data.draw(
        st.dictionaries(st.sampled_from(IDS), valid_term_id, min_size=1, max_size=6), "initial"
    )
    initial_priors = {i: data.draw(prior) for i in initial}
    mode = data.draw(st.sampled_from(["positional", "bag"]), "mode")
    sequence = data.draw(st.lists(changes(), min_size=1, max_size=10), "changes")
    checkpoint_after = data.draw(st.integers(-1, len(sequence) - 1), "checkpoint after")
    queries = data.draw(
        st.lists(
            st.lists(st.sampled_from([*TERMS, "zz"]), min_size=1, max_size=LENGTH),
            min_size=1,
            max_size=8,
        ),
        "queries",
    )
    grounder = Grounder(initial, priors=initial_priors, mode=mode, term_id_length=LENGTH)
    model = {i: (terms, initial_priors[i]) for i, terms in initial.items()}
    with (
        new_store_url(backend, request) as url,
        create_store(url, grounder) as store,
        open_store(url) as other,
    ):
        writer = StoreFollower.restore(store)
        follower = StoreFollower.restore(other)  # as a second process would
        version = 0
        for n, change in enumerate(sequence):
            after = model_apply(model, change)
            if after is None:
                with pytest.raises(InvalidInputError):
                    writer.commit(change)
            else:
                version += 1
                assert writer.commit(change) == version
                model = after
            assert store.head_version() == version
            if n == checkpoint_after:
                writer.write_checkpoint()
            if data.draw(st.booleans(), "follower looks"):
                follower.catch_up()
        assert follower.catch_up() == version
        catalog = store.catalog()
        assert list(catalog.term_ids.items()) == [(i, t) for i, (t, _) in model.items()]
        assert catalog.priors == {i: p for i, (_, p) in model.items()}
        oracle = catalog.grounder()
        restarted = restore(other)
        assert restarted.version == version
        for each in (writer.grounder, follower.grounder, restarted.grounder):
            assert list(each.item_ids) == list(oracle.item_ids)
            assert answers(each, queries) == answers(oracle, queries)
        assert writer.current().version == follower.current().version == version
