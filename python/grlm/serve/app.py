"""The FastAPI application of ``grlm serve``.

Every request reads the current :class:`grlm.serve.state.ServingState` once and answers from it;
reloads build the new snapshot off the event loop and swap it in. Client mistakes are
:class:`grlm.serve.requests.BadRequest` (a 4xx with ``{"error": "<one line>"}``).
"""

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from grlm.errors import GrlmError
from grlm.ground.grounder import HIT_TYPES
from grlm.serve.auth import check_bearer
from grlm.serve.coalesce import Coalescer
from grlm.serve.limits import Limits
from grlm.serve.metrics import Metrics
from grlm.serve.requests import (
    BadRequest,
    parse_delete_items,
    parse_ground,
    parse_put_items,
    parse_recommend,
    parse_reload,
)
from grlm.serve.state import CatalogSource, StateHolder, first_state

CONFIG_ENV = "GRLM_SERVE_CONFIG"  # the configuration handed to each worker process
ROUTES = (
    "/v1/ground",
    "/v1/recommend",
    "/v1/items",
    "/v1/admin/reload",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/docs",
)


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``grlm serve`` needs to build the application (picklable and JSON-able, so
    each worker process can rebuild it)."""

    source: CatalogSource
    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    model_dir: str | None = None
    objective: str | None = None  # None: the model folder's card (grlm_model.json)
    num_beams: int = 10
    coalesce_window_ms: float = 1.0  # 0 turns coalescing off
    max_batch: int = 256
    # Threads of one ground_batch call. Concurrent requests already run side by side on the
    # pool's workers (one per core), so a call that starts threads of its own only adds their
    # start-up cost.
    num_threads: int = 1

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("token")  # never in the environment of the workers; each reads it itself
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str, token: str | None) -> "ServeConfig":
        data = json.loads(text)
        data["source"] = CatalogSource(**data["source"])
        data["limits"] = Limits(**data["limits"])
        return cls(token=token, **data)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


async def read_body(request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, f"bad Content-Length header {declared[:20]!r}")
        if int(declared) > limit:
            raise BadRequest(413, f"body of {declared} bytes is over the limit of {limit}")
    from starlette.requests import ClientDisconnect

    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer, but it is the client's doing
        raise BadRequest(400, "the client left before sending the whole body") from None
    return b"".join(chunks)


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


try:  # orjson (the serve extra) writes the same JSON as json.dumps, several times faster
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - without it, the standard library

    def _dumps(data) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode()


def _json_response(data, status: int = 200):
    from starlette.responses import Response

    return Response(_dumps(data), status_code=status, media_type="application/json")


class _MetricsMiddleware:
    """Counts every response by route and status and times it (plain ASGI: no per-request
    task, unlike Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"
        started = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.requests.labels(route, str(status[0])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


GROUND_SCHEMA = {
    "type": "object",
    "required": ["term_ids"],
    "properties": {
        "term_ids": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "k": {"type": "integer", "minimum": 1, "default": 10},
    },
}
RECOMMEND_SCHEMA = {
    "type": "object",
    "required": ["history"],
    "properties": {
        "history": {"type": "array", "items": {"type": "string"}},
        "k": {"type": "integer", "minimum": 1, "default": 10},
    },
}
RELOAD_SCHEMA = {"type": "object", "properties": {"index": {"type": "string"}}}
PUT_ITEMS_SCHEMA = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    },
}
DELETE_ITEMS_SCHEMA = {
    "type": "object",
    "required": ["item_ids"],
    "properties": {"item_ids": {"type": "array", "items": {"type": "string"}}},
}


def _body(schema: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(config: ServeConfig, grounder=None):
    """The application serving ``config.source`` (or, when given, ``grounder``, which then
    stands for it)."""
    from fastapi import FastAPI, Request
    from starlette.exceptions import HTTPException

    loaded = None
    if config.model_dir is not None:
        from grlm.serve.recommender import LoadedModel

        loaded = LoadedModel.load(
            config.model_dir, objective=config.objective, num_beams=config.num_beams
        )
    if grounder is None:
        grounder = config.source.load()
    state = first_state(
        grounder, config.source, loaded.trie_for(grounder) if loaded is not None else None
    )
    holder = StateHolder(state)
    limits = config.limits
    metrics = Metrics()
    metrics.observe_state(state)
    ground_pool = ThreadPoolExecutor(
        max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="grlm-ground"
    )
    model_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grlm-model")
    coalescer = None
    if config.coalesce_window_ms > 0:
        coalescer = Coalescer(
            ground_pool,
            window_s=config.coalesce_window_ms / 1000,
            max_batch=config.max_batch,
            num_threads=config.num_threads,
            on_batch=metrics.batch_size.observe,
        )
    write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        ground_pool.shutdown(wait=False, cancel_futures=True)
        model_pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="grlm serve",
        version="1",
        lifespan=lifespan,
        description="Grounding of generated Term IDs against a catalog "
        "(and recommendation when a model is loaded).",
    )
    app.state.holder = holder
    app.state.metrics = metrics

    @app.exception_handler(BadRequest)
    async def bad_request(request, error: BadRequest):
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        response = _json_response({"error": error.reason}, error.status)
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return _json_response({"error": _one_line(error.detail)}, error.status_code)

    @app.exception_handler(GrlmError)
    async def core_refused(request, error: GrlmError):
        # The checks of requests.py come first; this is the core's own word on what slipped by.
        return _json_response({"error": _one_line(error)}, 422)

    @app.post("/v1/ground", openapi_extra=_body(GROUND_SCHEMA))
    async def ground(request: Request):
        """Grounds each Term ID: ``{"results": [{"hit", "items", "scores"}, ...]}``, in order."""
        snap = holder.current
        body = await read_body(request, limits.max_body_bytes)
        parsed = parse_ground(body, limits, snap.reader.term_id_length)
        if len(parsed.term_ids) == 1 and coalescer is not None:
            results = [
                _result_json(await coalescer.ground(snap.reader, parsed.term_ids[0], parsed.k))
            ]
        else:
            # Grounding and the id mapping off the event loop (the snapshot lists its ids once).
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(
                ground_pool,
                lambda: _batch_json(
                    snap.reader.ground_batch(
                        parsed.term_ids, k=parsed.k, num_threads=config.num_threads
                    ),
                    snap.reader.item_ids,
                ),
            )
        metrics.term_ids.inc(len(parsed.term_ids))
        return _json_response({"results": results, "catalog_version": snap.version})

    if loaded is not None:

        @app.post("/v1/recommend", openapi_extra=_body(RECOMMEND_SCHEMA))
        async def recommend(request: Request):
            """The top-k items after a history: ``{"items": [...], "hits": [...]}``."""
            snap = holder.current
            body = await read_body(request, limits.max_body_bytes)
            parsed = parse_recommend(body, limits)
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(
                model_pool, loaded.recommend, snap.reader, snap.trie, parsed.history, parsed.k
            )
            answer["catalog_version"] = snap.version
            return _json_response(answer)

    @app.post("/v1/admin/reload", openapi_extra=_body(RELOAD_SCHEMA))
    async def reload(request: Request):
        """Swaps in a new index (the started file again, or ``{"index": PATH}``, a file in the
        started catalog's folder); requests in flight finish on the old one. Needs the admin
        bearer token."""
        check_bearer(request.headers.get("authorization"), config.token)
        path = parse_reload(await read_body(request, limits.max_body_bytes))
        source = None if path is None else config.source.index_beside(path)
        if path is not None and source is None:
            raise BadRequest(
                403,
                "reload takes an index file in the folder of the catalog the server started with",
            )
        async with write_lock:
            old = holder.current
            source = source or old.source
            try:
                new = await asyncio.to_thread(source.load)
                trie = await asyncio.to_thread(loaded.trie_for, new) if loaded is not None else None
            except (GrlmError, OSError) as error:
                metrics.reloads.labels("failed").inc()
                raise BadRequest(
                    422, f"reload failed, still serving version {old.version}: {_one_line(error)}"
                ) from None
            snap = holder.swap(new, trie, source)
        metrics.reloads.labels("ok").inc()
        metrics.observe_state(snap)
        return _json_response(
            {"catalog_version": snap.version, "items": snap.items, "source": snap.source.path}
        )

    async def change_catalog(request, parse, make_change) -> dict:
        """Parses the body, applies the change to the Grounder (and the trie) on a worker
        thread, then swaps in a snapshot of the result. Writers go one at a time."""
        from grlm.ground.updates import apply_catalog_change

        check_bearer(request.headers.get("authorization"), config.token)
        body = await read_body(request, limits.max_body_bytes)
        async with write_lock:
            snap = holder.current
            change = make_change(parse(body, snap), snap)
            encode = loaded.encode if loaded is not None else None
            trie = snap.trie if loaded is not None else None
            try:
                await asyncio.to_thread(
                    apply_catalog_change, snap.catalog, change, trie=trie, encode=encode
                )
            finally:
                # A refused change leaves the catalog as it was, and its version; one refused
                # half-way (a later step of the change) has changed it: a new version.
                if snap.catalog.snapshot().version != snap.reader.version:
                    snap = holder.swap(snap.catalog, snap.trie, snap.source)
                    metrics.observe_state(snap)
        return {"catalog_version": snap.version, "items": snap.items}

    def _put_change(items, snap):
        from grlm.ground.updates import CatalogChange

        return CatalogChange(upsert=items)  # one all-or-nothing "add or replace"

    @app.put("/v1/items", openapi_extra=_body(PUT_ITEMS_SCHEMA))
    async def put_items(request: Request):
        """Adds items, or gives present ones a new Term ID, online: the next request sees them.
        Needs the admin bearer token."""
        answer = await change_catalog(
            request,
            lambda body, snap: parse_put_items(body, limits, snap.reader.term_id_length),
            _put_change,
        )
        metrics.updates.labels("put").inc()
        return _json_response(answer)

    @app.delete("/v1/items", openapi_extra=_body(DELETE_ITEMS_SCHEMA))
    async def delete_items(request: Request):
        """Removes items online. Needs the admin bearer token."""
        from grlm.ground.updates import CatalogChange

        answer = await change_catalog(
            request,
            lambda body, snap: parse_delete_items(body, limits),
            lambda ids, snap: CatalogChange(remove=ids),
        )
        metrics.updates.labels("delete").inc()
        return _json_response(answer)

    @app.get("/healthz")
    async def healthz():
        snap = holder.current
        return _json_response(
            {
                "status": "ok",
                "items": snap.items,
                "catalog_version": snap.version,
                "mode": snap.reader.mode,
                "delta_items": snap.reader.delta_size,
                "recommend": loaded is not None,
            }
        )

    @app.get("/metrics")
    async def prometheus_metrics():
        from starlette.responses import Response

        metrics.observe_state(holder.current)
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    return app


def app_from_environment():
    """The application of one worker process (``uvicorn --factory``), configured by
    ``$GRLM_SERVE_CONFIG`` as ``grlm serve --workers N`` sets it. A worker that cannot build it
    exits with uvicorn's start-up failure code, which stops the parent instead of restarting the
    worker forever."""
    import logging
    import sys

    from uvicorn.config import STARTUP_FAILURE

    from grlm.serve.auth import read_token

    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"${CONFIG_ENV} is not set: start workers with `grlm serve`")
    data = json.loads(text)
    try:
        token = read_token(data.pop("token_file", None))
        return create_app(ServeConfig.from_json(json.dumps(data), token))
    except (GrlmError, OSError, ValueError) as error:
        logging.getLogger("uvicorn.error").error("grlm serve worker: %s", _one_line(error))
        sys.exit(STARTUP_FAILURE)
