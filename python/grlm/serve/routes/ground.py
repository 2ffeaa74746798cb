"""``POST /v1/ground``: Term IDs grounded against the catalog."""

from fastapi import APIRouter, Request

from grlm.serve.dependencies import ServiceDep, read_body
from grlm.serve.protocol import (
    GroundRequest,
    GroundResponse,
    error_responses,
    json_response,
    openapi_body,
)
from grlm.serve.service import MIN_VERSION_HEADER

router = APIRouter(tags=["grounding"])


@router.post(
    "/v1/ground",
    response_model=GroundResponse,
    responses=error_responses(400, 413, 422, 503),
    openapi_extra=openapi_body(GroundRequest, min_version=True),
)
async def ground(request: Request, service: ServiceDep):
    """Grounds each Term ID: one result per Term ID, in order, exactly
    ``Grounder.ground_batch``'s answers on the catalog version the answer names."""
    # With X-Min-Catalog-Version: N, the answer is of version N or newer (503 otherwise).
    body = await read_body(request, service)
    await service.require_version(request.headers.get(MIN_VERSION_HEADER))
    return json_response(await service.ground(body))
