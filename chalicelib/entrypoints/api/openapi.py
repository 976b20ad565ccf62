"""OpenAPI 3.1 document generated from the registered routes and their pydantic models."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.entrypoints.api import versioning
from chalicelib.entrypoints.api.framework import ROUTES, RouteSpec

ERROR_TEXT = {
    400: "VALIDATION_ERROR: the request is not valid",
    401: "UNAUTHORIZED: missing, wrong or revoked API key",
    403: "FORBIDDEN or INSUFFICIENT_CREDITS",
    404: "NOT_FOUND",
    409: "CONFLICT or DUPLICATE",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "GUARDRAIL_REJECTED",
    429: "RATE_LIMITED (see Retry-After)",
    503: "FEATURE_DISABLED, or UNAVAILABLE when the database is (see Retry-After)",
}
REF = "#/components/schemas/{model}"


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ok", "error", "requestId"],
        "properties": {
            "ok": {"const": False},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
            },
            "requestId": {"type": "string"},
        },
    }


def _success_schema(spec: RouteSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "null"}
    if spec.response is not None:
        ref = {"$ref": REF.format(model=spec.response.__name__)}
        data = {"type": "array", "items": ref} if spec.is_list else ref
    properties: dict[str, Any] = {"ok": {"const": True}, "data": data, "requestId": {"type": "string"}}
    if spec.is_list:
        properties["meta"] = {
            "type": "object",
            "properties": {"next_cursor": {"type": ["string", "null"]}, "limit": {"type": "integer"}},
        }
    return {"type": "object", "required": ["ok", "data", "requestId"], "properties": properties}


def _success_content(spec: RouteSpec) -> dict[str, Any]:
    """The envelope for JSON routes; a bare JSON object or a text document for the others."""
    if spec.media_type == "application/json":
        return {"application/json": {"schema": _success_schema(spec)}}
    if spec.media_type == "application/json+raw":
        return {"application/json": {"schema": {"type": "object"}}}
    return {media_type.strip(): {"schema": {"type": "string"}} for media_type in spec.media_type.split(",")}


def _parameters(model: type[BaseModel] | None, where: str, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    for name, sub in schema.get("$defs", {}).items():
        schemas.setdefault(name, sub)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": where, "required": where == "path" or name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _mark_deprecations(operation: dict[str, Any], spec: RouteSpec) -> None:
    deprecation = versioning.route_deprecation(spec.method, spec.path)
    if deprecation is None:
        return
    operation["deprecated"] = True
    operation["x-sunset"] = deprecation.sunset_at.isoformat()
    if deprecation.successor:
        operation["x-successor-version"] = deprecation.successor


def _mark_deprecated_fields(schemas: dict[str, Any]) -> None:
    for model, name in versioning.deprecated_fields():
        prop = schemas.get(model, {}).get("properties", {}).get(name)
        if prop is not None:
            prop["deprecated"] = True


def build_openapi(version: str | None = None) -> dict[str, Any]:
    """The OpenAPI document for every route registered through `api_route`, deprecations marked."""
    version = version or versioning.API_VERSION
    models: list[tuple[type[BaseModel], Any]] = []
    for spec in ROUTES:
        if spec.body is not None:
            models.append((spec.body, "validation"))
        if spec.response is not None:
            models.append((spec.response, "serialization"))
        models.extend((model, "serialization") for _, model in spec.also)
    _, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["ErrorEnvelope"] = _error_schema()
    paths: dict[str, Any] = {}
    for spec in ROUTES:
        slug = re.sub(r"[^A-Za-z0-9]+", "_", spec.path).strip("_")
        operation: dict[str, Any] = {
            "operationId": f"{spec.method.lower()}_{slug}",
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": _parameters(spec.query, "query", schemas) + _parameters(spec.path_params, "path", schemas),
            "responses": {str(spec.status): {"description": "success", "content": _success_content(spec)}},
        }
        for code, model in spec.also:
            other = replace(spec, response=model, is_list=False, media_type="application/json")
            operation["responses"][str(code)] = {"description": "success", "content": _success_content(other)}
        if spec.auth not in ("public",):
            operation["security"] = [{"bearerAuth": []}] if spec.auth != "optional" else [{}, {"bearerAuth": []}]
        if spec.content_types:
            operation["requestBody"] = {
                "required": True,
                "content": {ct: {"schema": {"type": "string", "format": "binary"}} for ct in spec.content_types},
            }
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=spec.body.__name__)}}},
            }
        codes = set(spec.errors) | {400, 429, 503}  # 503: any route, while the database is unavailable
        if spec.auth not in ("public", "optional"):
            codes |= {401, 403}
        if spec.body is not None or spec.content_types:
            codes |= {413, 415}
        for code in sorted(codes):
            operation["responses"][str(code)] = {
                "description": ERROR_TEXT.get(code, "error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorEnvelope")}}},
            }
        _mark_deprecations(operation, spec)
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    _mark_deprecated_fields(schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "peerguard API", "version": version,
                 "description": "Decides whether content written by AI agents may be published."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
