"""The one service object of ``grlm serve``: the catalog, the model, the limits, the metrics, the
worker pools and the coalescer. The application keeps it in ``app.state.service``; the routes
reach it through :func:`grlm.serve.dependencies.get_service` and do their work through it.

Every request reads the current :class:`grlm.serve.state.ServingState` once and answers from
it; reloads and catalog changes build the next state off the event loop, one writer at a time,
and swap it in. With a catalog store (``grlm serve --store``) a ``StoreFollower`` applies the
store's committed changes instead, on its own thread, and the current state is its applied
version; changes are committed to the store through it.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from grlm.errors import CatalogStoreError, GrlmError
from grlm.ground.grounder import HIT_TYPES
from grlm.serve.coalesce import Coalescer
from grlm.serve.metrics import Metrics
from grlm.serve.protocol import (
    BadRequest,
    ChangeResponse,
    DeleteItemsRequest,
    GroundRequest,
    HealthResponse,
    PutItemsRequest,
    RecommendRequest,
    ReloadRequest,
    ReloadResponse,
    StoreHealth,
)
from grlm.serve.state import CatalogHolder, FollowedCatalog, ServingState, first_state

if TYPE_CHECKING:
    from grlm.serve.app import ServeConfig


# The header of read-your-writes: the catalog version a read needs, and how long a read waits
# for the store's follower to reach it before answering 503.
MIN_VERSION_HEADER = "x-min-catalog-version"
MIN_VERSION_WAIT_S = 2.0


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _result_json(result) -> dict:
    return {"hit": result.hit, "items": list(result.item_ids), "scores": list(result.scores)}


def _batch_json(batch, item_ids) -> list[dict]:
    """The results of a BatchResult over the item table ``item_ids``, read from its flat arrays
    (a GroundResult per query costs several times more)."""
    hits, offsets, scores = batch.hits.tolist(), batch.offsets.tolist(), batch.scores.tolist()
    names = [item_ids[i] for i in batch.items.tolist()]
    return [
        {
            "hit": HIT_TYPES[hits[q]],
            "items": names[offsets[q] : offsets[q + 1]],
            "scores": scores[offsets[q] : offsets[q + 1]],
        }
        for q in range(len(hits))
    ]


class Service:
    """What ``grlm serve`` answers from (``config.source``'s catalog, or ``grounder`` standing
    for it, or the catalog of the store ``config.store``) and how it changes.

    Attributes
    ----------
    catalog : CatalogHolder
        The current serving state (``catalog.current``): the Grounder, its snapshot, the trie
        and the catalog version.
    follower : StoreFollower or None
        With ``config.store``: keeps the catalog (and the trie) in step with the store; changes
        are committed through it.
    model : LoadedModel or None
        The recommender, when ``config.model_dir`` names one.
    limits, token, metrics, coalescer
        The request bounds, the admin token (None: the state-changing routes are disabled), the
        Prometheus metrics and the gatherer of single-Term-ID requests (None when off).
    """

    def __init__(self, config: ServeConfig, grounder=None):
        self.config = config
        self.limits = config.limits
        self.token = config.token
        self.model = None
        if config.model_dir is not None:
            from grlm.serve.recommender import LoadedModel

            self.model = LoadedModel.load(
                config.model_dir,
                objective=config.objective,
                num_beams=config.num_beams,
                precision=config.precision,
            )
        self.follower = None
        if config.store is not None:
            self.catalog = self._follow(config)
        else:
            if grounder is None:
                grounder = config.source.load()
            trie = self.model.trie_for(grounder) if self.model is not None else None
            self.catalog = CatalogHolder(first_state(grounder, config.source, trie))
        self.metrics = Metrics()
        self.metrics.observe_state(self.catalog.current)
        self._ground_pool = ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="grlm-ground"
        )
        self._model_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grlm-model")
        self.coalescer = None
        if config.coalesce_window_ms > 0:
            self.coalescer = Coalescer(
                self._ground_pool,
                window_s=config.coalesce_window_ms / 1000,
                max_batch=config.max_batch,
                num_threads=config.num_threads,
                on_batch=self.metrics.batch_size.observe,
            )
        self._write_lock = asyncio.Lock()

    def _follow(self, config: ServeConfig) -> FollowedCatalog:
        """The store's catalog, restored from its newest checkpoint and the changes after it,
        with the trie of the model built on it: the follower applies later changes to both."""
        from grlm.store import StoreFollower, open_store, restore

        store = open_store(config.store)
        try:
            restored = restore(store, device=config.source.device)
            trie = encode = None
            if self.model is not None:
                trie = self.model.trie_for(restored.grounder)
                encode = self.model.encode
            self.follower = StoreFollower(
                store, restored.grounder, restored.version, trie=trie, encode=encode
            )
        except BaseException:
            store.close()
            raise
        return FollowedCatalog(self.follower, trie, config.source)

    def start(self) -> None:
        """Starts following the store (the application's start-up)."""
        if self.follower is not None:
            self.follower.start()

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop(timeout=5)
            self.follower.store.close()
        self._ground_pool.shutdown(wait=False, cancel_futures=True)
        self._model_pool.shutdown(wait=False, cancel_futures=True)

    async def require_version(self, header: str | None) -> None:
        """Read-your-writes: returns once the served catalog is at version ``header`` (the value
        of ``X-Min-Catalog-Version``) or newer, waiting at most ``MIN_VERSION_WAIT_S`` for the
        store's follower; 503 with ``Retry-After`` when it is not there by then."""
        if header is None:
            return
        text = header.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise BadRequest(
                400,
                f"bad X-Min-Catalog-Version header {header[:20]!r}: "
                "expected a catalog version (a whole number)",
            )
        wanted = int(text)
        if self.catalog.current.version >= wanted:
            return
        if self.follower is not None:
            if await self._applied(wanted, MIN_VERSION_WAIT_S):
                return
            reason = f"not reached within {MIN_VERSION_WAIT_S:g} s"
        else:
            reason = "this server follows no catalog store"
        raise BadRequest(
            503,
            f"catalog version {wanted} is not served yet (serving version "
            f"{self.catalog.current.version}): {reason}",
            {"Retry-After": "1"},
        )

    async def _applied(self, version: int, timeout: float) -> bool:
        """Whether the follower applies ``version`` within ``timeout`` seconds. Waits on the
        event loop, looking at the applied version after 1 ms, then less and less often (at
        most 20 ms apart): no thread is held per waiting request, and a version that arrives
        soon is seen soon."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + timeout, 0.001
        while self.follower.applied_version < version:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(pause, remaining))
            pause = min(2 * pause, 0.02)
        return True

    async def ground(self, body: bytes) -> dict:
        """The answer of ``POST /v1/ground`` (a dict: a thousand results are not worth a model
        each)."""
        state = self.catalog.current
        snapshot = state.snapshot
        request = GroundRequest.parse(
            body, limits=self.limits, term_id_length=snapshot.term_id_length
        )
        term_ids, k = request.term_ids, request.k
        if len(term_ids) == 1 and self.coalescer is not None:
            results = [_result_json(await self.coalescer.ground(snapshot, term_ids[0], k))]
        else:
            # Grounding and the id mapping off the event loop (the snapshot lists its ids once).
            num_threads = self.config.num_threads
            results = await asyncio.get_running_loop().run_in_executor(
                self._ground_pool,
                lambda: _batch_json(
                    snapshot.ground_batch(term_ids, k=k, num_threads=num_threads),
                    snapshot.item_ids,
                ),
            )
        self.metrics.term_ids.inc(len(term_ids))
        return {"results": results, "catalog_version": state.version}

    async def recommend(self, body: bytes) -> dict:
        """The answer of ``POST /v1/recommend``."""
        state = self.catalog.current
        request = RecommendRequest.parse(body, limits=self.limits)
        answer = await asyncio.get_running_loop().run_in_executor(
            self._model_pool,
            self.model.recommend,
            state.snapshot,
            state.trie,
            request.history,
            request.k,
        )
        answer["catalog_version"] = state.version
        return answer

    async def reload(self, body: bytes) -> ReloadResponse:
        """Swaps in the index the body names (or the current source again)."""
        path = ReloadRequest.parse(body).index
        if self.follower is not None:
            raise BadRequest(
                409,
                "reload does not apply to a catalog that follows a store: change it with "
                "PUT/DELETE /v1/items, checkpoint it with `grlm catalog checkpoint`",
            )
        source = None if path is None else self.config.source.index_beside(path)
        if path is not None and source is None:
            raise BadRequest(
                403,
                "reload takes an index file in the folder of the catalog the server started with",
            )
        async with self._write_lock:
            old = self.catalog.current
            source = source or old.source
            try:
                grounder = await asyncio.to_thread(source.load)
                trie = None
                if self.model is not None:
                    trie = await asyncio.to_thread(self.model.trie_for, grounder)
            except (GrlmError, OSError) as error:
                self.metrics.reloads.labels("failed").inc()
                raise BadRequest(
                    422, f"reload failed, still serving version {old.version}: {one_line(error)}"
                ) from None
            state = self.catalog.swap(grounder, trie, source)
        self.metrics.reloads.labels("ok").inc()
        self.metrics.observe_state(state)
        return ReloadResponse(catalog_version=state.version, items=state.items, source=source.path)

    async def put_items(self, body: bytes) -> ChangeResponse:
        """Adds items, or gives present ones a new Term ID: one all-or-nothing upsert."""
        from grlm.ground.updates import CatalogChange

        answer = await self._change(
            lambda state: CatalogChange(
                upsert=PutItemsRequest.parse(
                    body, limits=self.limits, term_id_length=state.snapshot.term_id_length
                ).items
            )
        )
        self.metrics.updates.labels("put").inc()
        return answer

    async def delete_items(self, body: bytes) -> ChangeResponse:
        from grlm.ground.updates import CatalogChange

        answer = await self._change(
            lambda state: CatalogChange(
                remove=DeleteItemsRequest.parse(body, limits=self.limits).item_ids
            )
        )
        self.metrics.updates.labels("delete").inc()
        return answer

    async def _change(self, make_change) -> ChangeResponse:
        """Applies ``make_change(current state)`` to the Grounder (and the trie) on a worker
        thread, then swaps in a state of the result. Writers go one at a time."""
        from grlm.ground.updates import apply_catalog_change

        if self.follower is not None:
            return await self._commit(make_change)
        async with self._write_lock:
            state = self.catalog.current
            change = make_change(state)
            encode, trie = (
                (self.model.encode, state.trie) if self.model is not None else (None, None)
            )
            try:
                await asyncio.to_thread(
                    apply_catalog_change, state.grounder, change, trie=trie, encode=encode
                )
            finally:
                # A refused change leaves the catalog as it was, and its version; one refused
                # half-way (a later step of the change) has changed it: a new version.
                if state.grounder.snapshot().version != state.snapshot.version:
                    state = self.catalog.swap(state.grounder, state.trie, state.source)
                    self.metrics.observe_state(state)
        return ChangeResponse(catalog_version=state.version, items=state.items)

    async def _commit(self, make_change) -> ChangeResponse:
        """Commits ``make_change(current state)`` to the store through the follower, which
        applies it here before answering: the answer names the committed version."""
        async with self._write_lock:
            change = make_change(self.catalog.current)
            try:
                version = await asyncio.to_thread(self.follower.commit, change)
            except CatalogStoreError as error:  # unreachable, or this follower has failed
                raise BadRequest(
                    503, f"catalog store: {one_line(error)}", {"Retry-After": "1"}
                ) from None
        state = self.catalog.current
        self.metrics.observe_state(state)
        # ``items`` is counted at the served version: the committed one, or a newer one when
        # another process's change was applied meanwhile.
        return ChangeResponse(catalog_version=version, items=state.items)

    def store_health(self) -> StoreHealth | None:
        if self.follower is None:
            return None
        health = self.follower.health()
        return StoreHealth(
            applied_version=health.applied_version,
            store_version=health.store_version,
            lag=health.lag,
            state=health.state,
            last_error=health.last_error,
        )

    def health(self) -> HealthResponse:
        state: ServingState = self.catalog.current
        store = self.store_health()
        return HealthResponse(
            status="failed" if store is not None and store.state == "failed" else "ok",
            items=state.items,
            catalog_version=state.version,
            mode=state.snapshot.mode,
            delta_items=state.snapshot.delta_size,
            recommend=self.model is not None,
            store=store,
        )

    def render_metrics(self) -> tuple[bytes, str]:
        self.metrics.observe_state(self.catalog.current)
        self.metrics.observe_store(self.store_health())
        return self.metrics.render()
