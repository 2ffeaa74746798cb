"""PUT and DELETE /v1/items: online catalog changes behind the admin token; the next request
sees them, every answer equals a Grounder built from scratch on the catalog of the version it
names, and bad changes are 4xx that change nothing."""

from __future__ import annotations

import json
import random

import pytest

pytest.importorskip("fastapi")

from _serve_apps import TOKEN, VOCAB, as_json, make_app, random_catalog, random_queries
from fastapi.testclient import TestClient
from grlm.ground import Grounder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _check(client, catalog: dict, queries: list, version: int) -> None:
    fresh = Grounder(catalog, term_id_length=4)
    answer = client.post("/v1/ground", json={"term_ids": queries, "k": 5}).json()
    assert answer["catalog_version"] == version
    assert answer["results"] == [as_json(fresh.ground(q, k=5)) for q in queries]
    for q in queries[:5]:  # the coalesced path too
        assert client.post("/v1/ground", json={"term_ids": [q], "k": 5}).json()["results"] == [
            as_json(fresh.ground(q, k=5))
        ]


def test_put_and_delete_are_seen_by_the_next_request():
    catalog = random_catalog(21, items=30)
    with TestClient(make_app(Grounder(catalog))) as c:
        added = c.put("/v1/items", headers=AUTH, json={"items": {"new": ["x1", "x2", "x3"]}})
        assert added.json() == {"catalog_version": 2, "items": 31}
        catalog["new"] = ["x1", "x2", "x3"]
        hit = c.post("/v1/ground", json={"term_ids": [["x1", "x2", "x3"]]}).json()
        assert hit["results"][0]["items"] == ["new"] and hit["results"][0]["hit"] == "direct"
        changed = c.put("/v1/items", headers=AUTH, json={"items": {"i0": ["x1", "x2", "x3"]}})
        assert changed.json()["catalog_version"] == 3
        catalog["i0"] = ["x1", "x2", "x3"]
        both = c.post("/v1/ground", json={"term_ids": [["x1", "x2", "x3"]]}).json()
        assert sorted(both["results"][0]["items"]) == ["i0", "new"]
        removed = c.request("DELETE", "/v1/items", headers=AUTH, json={"item_ids": ["new"]})
        assert removed.json() == {"catalog_version": 4, "items": 30}
        del catalog["new"]
        _check(c, catalog, random_queries(22, 40, catalog) + [["x1", "x2", "x3"]], 4)
        health = c.get("/healthz").json()
        assert health["items"] == 30 and health["delta_items"] > 0
        assert "grlm_catalog_delta_items" in c.get("/metrics").text


@pytest.mark.parametrize(
    "method, body, status, reason",
    [
        ("PUT", {"items": {}}, 422, "holds 0 items"),
        ("PUT", {"items": []}, 422, "items must be an object"),
        ("PUT", {"items": {"a": "x y"}}, 422, "must be a list of terms"),
        ("PUT", {"items": {"a": ["x"] * 5}}, 422, "1 to 4 are allowed"),
        ("PUT", {"items": {"a": ["x", ""]}}, 422, "empty term"),
        ("PUT", {"items": {"": ["x"]}}, 422, "1 to 256 characters"),
        ("PUT", {"items": {"a": ["é" * 200]}}, 422, "longer than 256 bytes"),
        # The core trims ASCII spaces only: 120 U+2003 are 360 bytes of the term (was a 500).
        ("PUT", {"items": {"a": ["\u2003" * 120 + "a"]}}, 422, "longer than 256 bytes"),
        ("PUT", {"item": {}}, 422, "missing field 'items'"),
        ("DELETE", {"item_ids": ["nope"]}, 422, "nope"),
        ("DELETE", {"item_ids": ["i1", "i1"]}, 422, "names an item twice"),
        ("DELETE", {"item_ids": []}, 422, "holds 0 items"),
        ("DELETE", {"item_ids": [3]}, 422, "must be an item id string"),
    ],
)
def test_bad_changes_are_4xx_and_change_nothing(method, body, status, reason):
    catalog = random_catalog(23, items=20)
    with TestClient(make_app(Grounder(catalog))) as c:
        response = c.request(method, "/v1/items", headers=AUTH, json=body)
        assert response.status_code == status, response.text
        assert reason in response.json()["error"]
        assert c.get("/healthz").json()["items"] == 20
        assert c.get("/healthz").json()["catalog_version"] == 1  # a refused change has no number
        _check(
            c, catalog, random_queries(24, 20, catalog), c.get("/healthz").json()["catalog_version"]
        )


def test_removing_every_item_is_refused():
    with TestClient(make_app(Grounder({"a": ["x"], "b": ["y"]}))) as c:
        response = c.request("DELETE", "/v1/items", headers=AUTH, json={"item_ids": ["a", "b"]})
        assert response.status_code == 422
        assert c.get("/healthz").json()["items"] == 2


def test_changes_need_the_token():
    catalog = random_catalog(25, items=10)
    with TestClient(make_app(Grounder(catalog), token=None)) as c:
        assert c.put("/v1/items", headers=AUTH, json={"items": {"a": ["x"]}}).status_code == 403
    with TestClient(make_app(Grounder(catalog))) as c:
        assert c.put("/v1/items", json={"items": {"a": ["x"]}}).status_code == 401
        wrong = {"Authorization": "Bearer " + "x" * 20}
        assert (
            c.request("DELETE", "/v1/items", headers=wrong, json={"item_ids": ["i1"]}).status_code
            == 401
        )
        assert c.get("/healthz").json()["items"] == 10


@pytest.fixture(scope="module")
def fuzzed_client():
    with TestClient(make_app(Grounder(random_catalog(26, items=20)))) as c:
        yield c


BODY_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=16,
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["PUT", "DELETE"]),
    body=st.one_of(
        st.binary(max_size=48),
        st.fixed_dictionaries({"items": BODY_VALUES}).map(json.dumps),
        st.fixed_dictionaries({"item_ids": BODY_VALUES}).map(json.dumps),
        BODY_VALUES.map(json.dumps),
    ),
)
def test_no_change_body_makes_a_5xx(fuzzed_client, method, body):
    response = fuzzed_client.request(method, "/v1/items", headers=AUTH, content=body)
    assert response.status_code < 500, (method, body, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error and "\n" not in error
    assert fuzzed_client.get("/healthz").json()["items"] >= 1


changes = st.lists(
    st.tuples(st.sampled_from(["add", "update", "remove"]), st.integers(0, 10_000)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=changes, seed=st.integers(0, 1000))
def test_any_sequence_of_changes_answers_as_a_fresh_grounder(ops, seed):
    rng = random.Random(seed)
    catalog = random_catalog(seed, items=15)
    with TestClient(make_app(Grounder(catalog))) as c:
        for step, (kind, pick) in enumerate(ops):
            ids = list(catalog)
            terms = [rng.choice(VOCAB) for _ in range(rng.randint(1, 4))]
            if kind == "remove" and len(ids) > 1:
                victim = ids[pick % len(ids)]
                response = c.request(
                    "DELETE", "/v1/items", headers=AUTH, json={"item_ids": [victim]}
                )
                del catalog[victim]
            else:
                item = f"n{step}" if kind == "add" else ids[pick % len(ids)]
                response = c.put("/v1/items", headers=AUTH, json={"items": {item: terms}})
                catalog[item] = terms
            assert response.status_code == 200, response.text
        _check(c, catalog, random_queries(seed + 1, 30, catalog), len(ops) + 1)


def test_a_change_refused_half_way_gets_a_new_version():
    # A change is one step here (an upsert), so a refused one changes nothing; the version moves
    # only with the catalog: a refused change after an accepted one keeps the accepted number.
    with TestClient(make_app(Grounder({"a": ["x"], "b": ["y"]}))) as c:
        assert c.put("/v1/items", headers=AUTH, json={"items": {"c": ["z"]}}).status_code == 200
        refused = c.request("DELETE", "/v1/items", headers=AUTH, json={"item_ids": ["nope"]})
        assert refused.status_code == 422
        assert c.get("/healthz").json()["catalog_version"] == 2
        answer = c.post("/v1/ground", json={"term_ids": [["z"]]}).json()
        assert answer["catalog_version"] == 2 and answer["results"][0]["items"] == ["c"]
