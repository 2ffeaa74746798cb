"""``GET /healthz`` and ``GET /metrics`` (Prometheus)."""

from fastapi import APIRouter
from starlette.responses import Response

from grlm.serve.dependencies import ServiceDep
from grlm.serve.protocol import HealthResponse, json_response

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz(service: ServiceDep):
    """Status, items, catalog version, structural mode, delta size, whether /v1/recommend is
    served."""
    return json_response(service.health())


@router.get("/metrics", response_class=Response)
async def metrics(service: ServiceDep):
    """Prometheus text: requests by route and status, latency histograms, Term IDs grounded,
    coalesced batch sizes, catalog items, delta size and version, reloads."""
    payload, content_type = service.render_metrics()
    return Response(payload, media_type=content_type)
