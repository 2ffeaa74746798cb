"""``GET /healthz`` and ``GET /metrics`` (Prometheus)."""

from fastapi import APIRouter
from starlette.responses import Response

from grlm.serve.dependencies import ServiceDep
from grlm.serve.protocol import HealthResponse, json_response

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def healthz(service: ServiceDep):
    """Status, items, catalog version, structural mode, delta size, whether /v1/recommend is
    served, and the store followed (its version, the lag behind it, its state). 503 when the
    catalog stopped following its store (restart the process)."""
    health = service.health()
    return json_response(health, 200 if health.status == "ok" else 503)


@router.get("/metrics", response_class=Response)
async def metrics(service: ServiceDep):
    """Prometheus text: requests by route and status, latency histograms, Term IDs grounded,
    coalesced batch sizes, catalog items, delta size and version, reloads; with a store, its
    version, the lag behind it and its state."""
    payload, content_type = service.render_metrics()
    return Response(payload, media_type=content_type)
