"""Health and the API description."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.domain.errors import Unavailable
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import ApiModel
from chalicelib.entrypoints.api.openapi import build_openapi
from chalicelib.services import health as health_service

bp = Blueprint(__name__)


class HealthOut(ApiModel):
    status: str
    database: str
    version: str


@api_route(bp, "GET", "/v1/health", summary="Liveness and database reachability", auth="public",
           tag="meta", response=HealthOut, errors=(503,))
def health(ctx: RequestContext) -> Reply:
    try:
        health_service.database_reachable(bootstrap.unit_of_work())
    except Exception as exc:
        raise Unavailable("database unreachable", retry_after_s=5) from exc
    return Reply(HealthOut(status="ok", database="ok", version="1"))


@api_route(bp, "GET", "/v1/openapi.json", summary="This API's OpenAPI 3.1 description", auth="public",
           tag="meta", media_type="application/json+raw")
def openapi(ctx: RequestContext) -> Response:
    document: dict[str, Any] = build_openapi()
    return Response(body=json.dumps(document), status_code=200, headers={"Content-Type": "application/json"})
