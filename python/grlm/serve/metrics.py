"""The server's Prometheus metrics, in a registry of its own (one per application, so tests and
several apps in one process do not share counters)."""

from __future__ import annotations

import time

# Latency buckets from 100 us: grounding answers in well under a millisecond.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "grlm_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "grlm_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.term_ids = Counter(
            "grlm_term_ids_grounded", "Term IDs grounded", registry=self.registry
        )
        self.batch_size = Histogram(
            "grlm_coalesced_batch_size",
            "Single-Term-ID requests per coalesced ground_batch call",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.catalog_items = Gauge(
            "grlm_catalog_items", "Items in the served catalog", registry=self.registry
        )
        self.catalog_delta = Gauge(
            "grlm_catalog_delta_items",
            "Items changed since the index was last compacted (the delta segment plus tombstones)",
            registry=self.registry,
        )
        self.catalog_version = Gauge(
            "grlm_catalog_version",
            "Catalog version: 1 at start, +1 per reload or update (with a store: the applied "
            "store version)",
            registry=self.registry,
        )
        self.updates = Counter(
            "grlm_catalog_updates",
            "Online catalog changes by kind",
            ["kind"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "grlm_reloads", "Index reloads by outcome", ["outcome"], registry=self.registry
        )
        self._store_gauges = None  # made at the first observe_store with a store

    def observe_store(self, health) -> None:
        """The store's version, the lag behind it and its state (``grlm serve --store``: a
        :class:`grlm.serve.protocol.StoreHealth`; None without a store, which shows nothing)."""
        if health is None:
            return
        if self._store_gauges is None:
            from prometheus_client import Gauge

            self._store_gauges = (
                Gauge(
                    "grlm_store_version",
                    "The newest catalog version seen in the store",
                    registry=self.registry,
                ),
                Gauge(
                    "grlm_store_lag",
                    "Changes committed to the store, not yet applied here",
                    registry=self.registry,
                ),
                Gauge(
                    "grlm_store_state",
                    "1 for the follower's present state (ok, unreachable, failed), 0 for others",
                    ["state"],
                    registry=self.registry,
                ),
            )
        version, lag, state = self._store_gauges
        version.set(health.store_version)
        lag.set(health.lag)
        for name in ("ok", "unreachable", "failed"):
            state.labels(name).set(1 if health.state == name else 0)

    def observe_state(self, state) -> None:
        self.catalog_items.set(state.items)
        self.catalog_version.set(state.version)
        self.catalog_delta.set(state.snapshot.delta_size)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts every response by route and status and times it (plain ASGI: no per-request
    task, unlike Starlette's BaseHTTPMiddleware). ``paths`` are the application's routes; any
    other path is counted as "other", so a client cannot grow the label set."""

    def __init__(self, app, metrics: Metrics, paths: frozenset[str]):
        self.app, self.metrics, self.paths = app, metrics, paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in self.paths else "other"
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
