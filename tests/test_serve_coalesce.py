"""Coalescing: concurrent single-Term-ID requests are grounded by one ground_batch call, each
answer equals the Grounder's own, and a refused query fails alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from _serve_apps import as_json, make_app, random_catalog, random_queries
from grlm.errors import InvalidInputError
from grlm.ground import Grounder
from grlm.serve.coalesce import Coalescer
from hypothesis import given, settings
from hypothesis import strategies as st


class _CountingGrounder:
    """Records the size of every ground_batch call."""

    def __init__(self, grounder):
        self.grounder, self.batches = grounder, []

    def ground_batch(self, queries, **kwargs):
        self.batches.append(len(queries))
        return self.grounder.ground_batch(queries, **kwargs)

    def ground(self, *args, **kwargs):
        return self.grounder.ground(*args, **kwargs)


async def _gather(coalescer, grounder, queries, ks):
    return await asyncio.gather(
        *(coalescer.ground(grounder, q, k) for q, k in zip(queries, ks)), return_exceptions=True
    )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(1, 40), ks=st.sampled_from([[3], [1, 7]]))
def test_coalesced_answers_equal_direct_ones(seed, count, ks):
    catalog = random_catalog(seed, items=40)
    grounder = _CountingGrounder(Grounder(catalog))
    queries = random_queries(seed + 1, count, catalog)
    query_ks = [ks[i % len(ks)] for i in range(count)]
    with ThreadPoolExecutor(2) as pool:
        # A window far longer than the test needs: every request joins its k's one batch.
        coalescer = Coalescer(pool, window_s=0.05, max_batch=1000, eager=False)
        results = asyncio.run(_gather(coalescer, grounder, queries, query_ks))
    assert [as_json(r) for r in results] == [
        as_json(grounder.grounder.ground(q, k=k)) for q, k in zip(queries, query_ks)
    ]
    assert sorted(grounder.batches) == sorted(query_ks.count(k) for k in set(query_ks))


def test_max_batch_closes_a_batch_early():
    catalog = random_catalog(3)
    grounder = _CountingGrounder(Grounder(catalog))
    queries = random_queries(4, 10, catalog)
    with ThreadPoolExecutor(1) as pool:
        coalescer = Coalescer(pool, window_s=0.05, max_batch=4, eager=False)
        results = asyncio.run(_gather(coalescer, grounder, queries, [5] * 10))
    assert grounder.batches == [4, 4, 2]
    assert [as_json(r) for r in results] == [
        as_json(grounder.grounder.ground(q, k=5)) for q in queries
    ]


@pytest.mark.parametrize("eager", [False, True])
def test_a_refused_query_fails_alone(eager):
    catalog = random_catalog(5)
    grounder = Grounder(catalog)
    good = random_queries(6, 6, catalog)
    # Five terms where the catalog's Term IDs have four: the core refuses it, and with it the
    # whole ground_batch call; the others must still get their answers.
    queries = good[:3] + [["t1"] * 5] + good[3:]
    with ThreadPoolExecutor(1) as pool:
        coalescer = Coalescer(pool, window_s=0.05, eager=eager)
        results = asyncio.run(_gather(coalescer, grounder, queries, [4] * len(queries)))
    assert isinstance(results[3], InvalidInputError)
    rest = results[:3] + results[4:]
    assert [as_json(r) for r in rest] == [as_json(grounder.ground(q, k=4)) for q in good]


def test_eager_batches_close_without_waiting_for_the_window():
    catalog = random_catalog(9)
    grounder = _CountingGrounder(Grounder(catalog))
    queries = random_queries(10, 30, catalog)

    async def scenario(coalescer):
        first = await coalescer.ground(grounder, queries[0], 3)  # alone: no window to wait for
        rest = await _gather(coalescer, grounder, queries[1:], [3] * 29)
        return [first, *rest]

    with ThreadPoolExecutor(1) as pool:
        # A window of a minute: only the eager closing can let this test end.
        coalescer = Coalescer(pool, window_s=60, max_batch=1000, eager=True)
        results = asyncio.run(asyncio.wait_for(scenario(coalescer), 30))
    assert [as_json(r) for r in results] == [
        as_json(grounder.grounder.ground(q, k=3)) for q in queries
    ]
    assert grounder.batches[0] == 1 and sum(grounder.batches) == 30
    assert len(grounder.batches) < 30  # the 29 concurrent ones were gathered


def test_concurrent_http_requests_are_coalesced_and_bad_ones_fail_alone():
    catalog = random_catalog(7)
    grounder = Grounder(catalog)
    queries = random_queries(8, 30, catalog)
    app = make_app(grounder, coalesce_window_ms=1.0)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            bodies = [{"term_ids": [q], "k": 6} for q in queries]
            bodies.insert(10, {"term_ids": [["t1", 3]], "k": 6})
            bodies.insert(20, {"term_ids": [["t1"]], "k": 0})
            responses = await asyncio.gather(*(c.post("/v1/ground", json=b) for b in bodies))
            metrics = (await c.get("/metrics")).text
        return responses, metrics

    responses, metrics = asyncio.run(scenario())
    statuses = [r.status_code for r in responses]
    assert statuses[10] == 422 and statuses[20] == 422
    good = [r.json()["results"][0] for i, r in enumerate(responses) if i not in (10, 20)]
    assert good == [as_json(grounder.ground(q, k=6)) for q in queries]
    count = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("grlm_coalesced_batch_size_count")
    )
    assert 1 <= count < len(queries)  # fewer ground_batch calls than requests
