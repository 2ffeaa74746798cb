"""The FastAPI application of ``grlm serve``: its configuration and its factory.

:func:`create_app` builds the one :class:`grlm.serve.service.Service` (kept in
``app.state.service``), includes the routers of :mod:`grlm.serve.routes` and turns errors into
``{"error": "<one line>"}`` answers. Client mistakes are
:class:`grlm.serve.protocol.BadRequest` (a 4xx).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, field

from grlm.errors import GrlmError
from grlm.serve.limits import Limits
from grlm.serve.state import CatalogSource

CONFIG_ENV = "GRLM_SERVE_CONFIG"  # the configuration handed to each worker process


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``grlm serve`` needs to build the application (picklable and JSON-able, so
    each worker process can rebuild it)."""

    source: CatalogSource  # with ``store``: ``state.store_source(store)``
    store: str | None = None  # a catalog store URL: the catalog follows it (grlm serve --store)
    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    model_dir: str | None = None
    objective: str | None = None  # None: the model folder's card (grlm_model.json)
    num_beams: int = 10
    precision: str = "auto"  # the model's dtype: grlm.lm.inference_dtype
    coalesce_window_ms: float = 1.0  # 0 turns coalescing off
    max_batch: int = 256
    # Threads of one ground_batch call. Concurrent requests already run side by side on the
    # pool's workers (one per core), so a call that starts threads of its own only adds their
    # start-up cost.
    num_threads: int = 1

    def __post_init__(self):
        if (self.store is None) == (self.source.kind == "store"):
            raise ValueError(
                "a store's catalog is served with store=URL and source=store_source(URL)"
            )

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("token")  # never in the environment of the workers; each reads it itself
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str, token: str | None) -> ServeConfig:
        data = json.loads(text)
        data["source"] = CatalogSource(**data["source"])
        data["limits"] = Limits(**data["limits"])
        return cls(token=token, **data)


@contextlib.asynccontextmanager
async def _lifespan(app):
    app.state.service.start()
    try:
        yield
    finally:
        app.state.service.close()


def create_app(config: ServeConfig, grounder=None):
    """The application serving ``config.source`` (or, when given, ``grounder``, which then
    stands for it; or the catalog store ``config.store``, restored here and followed while the
    application runs). A catalog, store or model that cannot be read raises here, before any
    listening."""
    from fastapi import FastAPI

    from grlm.serve.metrics import MetricsMiddleware
    from grlm.serve.routes import routers
    from grlm.serve.service import Service

    service = Service(config, grounder)
    app = FastAPI(
        title="grlm serve",
        version="1",
        lifespan=_lifespan,
        description="Grounding of generated Term IDs against a catalog "
        "(and recommendation when a model is loaded).",
    )
    app.state.service = service
    included = routers(recommend_model=service.model is not None)
    for router in included:
        app.include_router(router)
    _add_error_handlers(app)
    paths = {route.path for router in included for route in router.routes}
    paths |= {url for url in (app.openapi_url, app.docs_url, app.redoc_url) if url}
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, paths=frozenset(paths))
    return app


def _add_error_handlers(app) -> None:
    from starlette.exceptions import HTTPException

    from grlm.serve.protocol import BadRequest, json_response
    from grlm.serve.service import one_line

    @app.exception_handler(BadRequest)
    async def bad_request(request, error: BadRequest):
        response = json_response({"error": error.reason}, error.status)
        response.headers.update(error.headers)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return json_response({"error": one_line(error.detail)}, error.status_code)

    @app.exception_handler(GrlmError)
    async def core_refused(request, error: GrlmError):
        # The checks of protocol.py come first; this is the core's own word on what slipped by.
        return json_response({"error": one_line(error)}, 422)


def app_from_environment():
    """The application of one worker process (``uvicorn --factory``), configured by
    ``$GRLM_SERVE_CONFIG`` as ``grlm serve --workers N`` sets it. A worker that cannot build it
    exits with uvicorn's start-up failure code, which stops the parent instead of restarting the
    worker forever."""
    import logging
    import sys

    from uvicorn.config import STARTUP_FAILURE

    from grlm.serve.auth import read_token
    from grlm.serve.service import one_line

    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"${CONFIG_ENV} is not set: start workers with `grlm serve`")
    data = json.loads(text)
    try:
        token = read_token(data.pop("token_file", None))
        return create_app(ServeConfig.from_json(json.dumps(data), token))
    except (GrlmError, OSError, ValueError) as error:
        logging.getLogger("uvicorn.error").error("grlm serve worker: %s", one_line(error))
        sys.exit(STARTUP_FAILURE)
