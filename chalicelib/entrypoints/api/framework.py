"""The HTTP contract of a route: registration (and the OpenAPI registry), auth, rate limits, validation.

Route functions are thin: they receive a validated RequestContext, call one service and return a
pydantic model (or a Reply). Everything else about HTTP happens here and in `envelope.py` (the shape
of every answer, and the one mapping from exceptions to error answers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.errors import (
    Forbidden,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.domain.principal import Principal
from chalicelib.entrypoints.api import versioning
from chalicelib.entrypoints.api.envelope import (
    TOKEN_RE,
    envelope_response,
    map_exception,
    request_id_of,
    validation_details,
)
from chalicelib.observability import bind, flush
from chalicelib.services import agents as agent_service

Auth = Literal["public", "optional", "agent", "human", "member", "admin", "any"]
JSON_CONTENT_TYPES = ["application/json"]


@dataclass(frozen=True)
class Reply:
    """A success answer with a status other than 200, extra headers or list metadata."""

    data: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] | None = None


@dataclass
class RequestContext:
    request_id: str
    correlation_id: str
    principal: Principal | None
    body: Any
    query: Any
    path: Any
    headers: dict[str, str]
    source_ip: str

    @property
    def caller(self) -> Principal:
        """The authenticated principal (routes that require auth always have one)."""
        assert self.principal is not None
        return self.principal


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    summary: str
    auth: Auth
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    path_params: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    is_list: bool
    errors: tuple[int, ...]
    public_rate_limit: int | Callable[[], int] | None
    # What a success answers with: the JSON envelope, a bare JSON document ("application/json+raw",
    # e.g. the OpenAPI document itself), or another media type served as text (the operators' page).
    media_type: str = "application/json"
    content_types: tuple[str, ...] = ()  # a raw (non-JSON) request body, e.g. photo uploads
    # Another success the route may answer instead, in the JSON envelope (an export turned into a job: 202).
    also: tuple[tuple[int, type[BaseModel]], ...] = ()


ROUTES: list[RouteSpec] = []


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValidationFailed("request is not valid", details=[
                {"field": key, "message": "duplicate key in a JSON object", "type": "duplicate_key"}])
        seen[key] = value
    return seen


def _check_content_type(headers: Mapping[str, str]) -> None:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in JSON_CONTENT_TYPES:
        raise UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json",
            details={"content_type": media_type or None, "accepted": JSON_CONTENT_TYPES})


# --- request handling ---------------------------------------------------------------------------

def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = request.raw_body or b""
    if len(raw) > get_settings().max_request_bytes:
        raise PayloadTooLarge(
            "request body is too large", details={"max_bytes": get_settings().max_request_bytes}
        )
    if not raw.strip():
        raise ValidationFailed("a JSON body is required", details=[{"field": "body", "message": "empty body"}])
    # A key given twice is refused (JSON parsers disagree on which one wins); malformed JSON is left
    # to pydantic, which reports it as a field error.
    with suppress(ValueError, RecursionError):
        json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
    # Validating the JSON text directly: strict types, and malformed JSON is a field error too.
    return model.model_validate_json(raw)


def _parse_json_body(request: Request, model: type[BaseModel], headers: Mapping[str, str]) -> BaseModel:
    _check_content_type(headers)
    return _parse_body(request, model)


def _parse_params(values: Mapping[str, str] | None, model: type[BaseModel], where: str) -> BaseModel:
    try:
        return model.model_validate(dict(values or {}))
    except ValidationError as exc:
        details = validation_details(exc)
        for d in details:
            d["field"] = f"{where}.{d['field']}"
        raise ValidationFailed(f"{where} parameters are not valid", details=details) from exc


def _authorize(spec: RouteSpec, request: Request) -> Principal | None:
    header = request.headers.get("authorization")
    if spec.auth == "public" or (spec.auth == "optional" and not header):
        return None
    principal = agent_service.authenticate(bootstrap.unit_of_work(), header)
    allowed = {
        "optional": {"agent", "human", "admin"},
        "any": {"agent", "human", "admin"},
        "agent": {"agent"},
        "human": {"human"},
        "member": {"agent", "human"},
        "admin": {"admin"},
    }[spec.auth]
    if principal.role not in allowed:
        raise Forbidden(f"this route is for {spec.auth} keys")
    agent_service.enforce_rate_limit(bootstrap.unit_of_work(), f"key:{principal.key_id}",
                                     agent_service.limit_for(principal))
    return principal


def _source_ip(request: Request) -> str:
    context = request.context if isinstance(request.context, dict) else {}
    identity = context.get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def _handle(spec: RouteSpec, fn: Callable[[RequestContext], Any], request: Request,
            path_args: dict[str, str]) -> Response:
    request_id = request_id_of(request)
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    correlation = headers.get("x-correlation-id", "")
    correlation_id = correlation if TOKEN_RE.match(correlation) else request_id
    with bind(request_id=request_id, correlation_id=correlation_id), \
            bootstrap.request_acquire_timeout(get_settings().db_api_acquire_timeout_s):
        try:
            response = _answer(spec, fn, request, path_args=path_args, request_id=request_id,
                               correlation_id=correlation_id, headers=headers)
        finally:
            flush()
    deprecation = versioning.route_deprecation(spec.method, spec.path)
    if deprecation is not None:
        response.headers.update(deprecation.headers())
    return response


def _answer(spec: RouteSpec, fn: Callable[[RequestContext], Any], request: Request, *, path_args: dict[str, str],
            request_id: str, correlation_id: str, headers: dict[str, str]) -> Response:
    try:
        principal = _authorize(spec, request)
        if principal is None and spec.public_rate_limit is not None:
            agent_service.enforce_rate_limit(bootstrap.unit_of_work(), f"ip:{_source_ip(request)}:{spec.path}",
                                             spec.public_rate_limit if isinstance(spec.public_rate_limit, int)
                                             else spec.public_rate_limit())
        ctx = RequestContext(
            request_id=request_id,
            correlation_id=correlation_id,
            principal=principal,
            body=_parse_json_body(request, spec.body, headers) if spec.body else None,
            query=_parse_params(request.query_params, spec.query, "query") if spec.query else None,
            path=_parse_params(path_args, spec.path_params, "path") if spec.path_params else None,
            headers=headers,
            source_ip=_source_ip(request),
        )
        result = fn(ctx)
        if isinstance(result, Response):
            result.headers.setdefault("X-Request-Id", request_id)
            return result
        reply = result if isinstance(result, Reply) else Reply(data=result, status=spec.status)
        return envelope_response(request_id, data=reply.data, meta=reply.meta, status=reply.status,
                                 headers=reply.headers)
    except Exception as exc:
        return map_exception(exc, request_id)


def api_route(
    bp: Blueprint,
    method: str,
    path: str,
    *,
    summary: str,
    auth: Auth,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    path_params: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    is_list: bool = False,
    errors: tuple[int, ...] = (),
    public_rate_limit: int | Callable[[], int] | None = None,
    media_type: str = "application/json",
    content_types: tuple[str, ...] = (),
    also: tuple[tuple[int, type[BaseModel]], ...] = (),
) -> Callable[[Callable[[RequestContext], Any]], Callable[[RequestContext], Any]]:
    """Register a route with Chalice and with the OpenAPI registry.

    `content_types` declares a raw (non-JSON) request body, which the route reads from the request.
    """
    spec = RouteSpec(method, path, summary, auth, tag, body, query, path_params, response, status, is_list,
                     errors, public_rate_limit, media_type, content_types, also)
    ROUTES.append(spec)

    def register(fn: Callable[[RequestContext], Any]) -> Callable[[RequestContext], Any]:
        def view(**path_args: str) -> Response:
            return _handle(spec, fn, bp.current_request, path_args)

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        accepted = list(content_types) or (JSON_CONTENT_TYPES if method in ("POST", "PUT", "PATCH") else None)
        if accepted:
            bp.route(path, methods=[method], content_types=accepted)(view)
        else:
            bp.route(path, methods=[method])(view)
        return fn

    return register
