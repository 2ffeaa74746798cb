"""``POST /v1/recommend`` (with a model): the top-k items after a history."""

from fastapi import APIRouter, Request

from grlm.serve.dependencies import ServiceDep, read_body
from grlm.serve.protocol import (
    RecommendRequest,
    RecommendResponse,
    error_responses,
    json_response,
    openapi_body,
)
from grlm.serve.service import MIN_VERSION_HEADER

router = APIRouter(tags=["recommendation"])


@router.post(
    "/v1/recommend",
    response_model=RecommendResponse,
    responses=error_responses(400, 413, 422, 503),
    openapi_extra=openapi_body(RecommendRequest, min_version=True),
)
async def recommend(request: Request, service: ServiceDep):
    """The top-k items after a history (oldest first): the objective's prompt, the fast decoder
    constrained to the catalog's trie, grounding and ranking of ``grlm.recommend``."""
    # With X-Min-Catalog-Version: N, the answer is of version N or newer (503 otherwise).
    body = await read_body(request, service)
    await service.require_version(request.headers.get(MIN_VERSION_HEADER))
    return json_response(await service.recommend(body))
