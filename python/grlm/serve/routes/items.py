"""``PUT`` and ``DELETE /v1/items``: online catalog changes, behind the admin token; the next
request sees them."""

from fastapi import APIRouter, Depends, Request

from grlm.serve.auth import require_admin
from grlm.serve.dependencies import ServiceDep, read_body
from grlm.serve.protocol import (
    ChangeResponse,
    DeleteItemsRequest,
    PutItemsRequest,
    error_responses,
    json_response,
    openapi_body,
)

router = APIRouter(tags=["catalog"], dependencies=[Depends(require_admin)])
ERRORS = error_responses(400, 401, 403, 413, 422, 503)


@router.put(
    "/v1/items",
    response_model=ChangeResponse,
    responses=ERRORS,
    openapi_extra=openapi_body(PutItemsRequest),
)
async def put_items(request: Request, service: ServiceDep):
    """Adds items, or gives present ones a new Term ID, in one all-or-nothing change."""
    return json_response(await service.put_items(await read_body(request, service)))


@router.delete(
    "/v1/items",
    response_model=ChangeResponse,
    responses=ERRORS,
    openapi_extra=openapi_body(DeleteItemsRequest),
)
async def delete_items(request: Request, service: ServiceDep):
    """Removes items, all or none (an unknown id: 422, nothing removed)."""
    return json_response(await service.delete_items(await read_body(request, service)))
