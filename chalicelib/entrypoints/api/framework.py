"""The HTTP contract in one place: envelope, error mapping, auth, rate limits, validation, OpenAPI.

Route functions are thin: they receive a validated RequestContext, call one service and return a
pydantic model (or a Reply). Everything else about HTTP happens here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.errors import (
    DomainError,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.domain.principal import Principal
from chalicelib.entrypoints.api import versioning
from chalicelib.observability import bind, emit, flush, logger
from chalicelib.services import agents as agent_service

Auth = Literal["public", "optional", "agent", "human", "member", "admin", "any"]
JSON_CONTENT_TYPES = ["application/json"]
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DB_RETRY_AFTER_S = 5


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


# --- envelope ---------------------------------------------------------------------------------

def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def envelope_response(
    request_id: str, *, data: Any = None, meta: dict[str, Any] | None = None, status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"ok": True, "data": _dump(data)}
    if meta is not None:
        body["meta"] = meta
    body["requestId"] = request_id
    return _json_response(body, status, request_id, headers)


def error_response(
    request_id: str, *, code: str, message: str, status: int, details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return _json_response({"ok": False, "error": error, "requestId": request_id}, status, request_id, headers)


def _json_response(body: dict[str, Any], status: int, request_id: str, headers: dict[str, str] | None) -> Response:
    all_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", "X-Request-Id": request_id,
                                               **(headers or {})}
    return Response(body=json.dumps(body, ensure_ascii=False, default=str), status_code=status,
                    headers=all_headers)


def map_exception(exc: Exception, request_id: str) -> Response:
    """The one mapping from exceptions to envelopes. Unknown errors are logged, never leaked."""
    if bootstrap.database_unavailable(exc):
        # Counted, not an unhandled error: the client is told to come back (DB_API_ACQUIRE_TIMEOUT_S).
        emit("DatabaseUnavailable")
        logger.warning("database unavailable", extra={"request_id": request_id, "error": type(exc).__name__})
        exc = Unavailable("the database is unavailable; retry shortly", retry_after_s=DB_RETRY_AFTER_S)
    if isinstance(exc, DomainError):
        headers = {**exc.headers}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after_s)
        return error_response(request_id, code=exc.code, message=exc.message, status=exc.status,
                              details=exc.details, headers=headers or None)
    if isinstance(exc, ValidationError):
        return error_response(request_id, code="VALIDATION_ERROR", message="request is not valid",
                              status=400, details=validation_details(exc))
    logger.exception("unhandled error", extra={"request_id": request_id})
    return error_response(request_id, code="INTERNAL_ERROR", message="an internal error occurred", status=500)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Field, message and type of each error (never the input: it may be large or personal)."""
    details = []
    for err in exc.errors(include_url=False, include_input=True, include_context=True):
        details.append({
            "field": ".".join(str(p) for p in err["loc"]) or "body",
            "message": _message(err),
            "type": err["type"],
        })
    return details


def _message(err: Any) -> str:
    # A length bound placed after a validator is checked generically and speaks of "items";
    # for text say characters, whatever way the type was declared.
    if err["type"] in ("too_short", "too_long") and isinstance(err.get("input"), str):
        ctx = err.get("ctx") or {}
        if err["type"] == "too_short":
            bound = int(ctx.get("min_length", 1))
            return f"String should have at least {bound} character{'s' if bound != 1 else ''}"
        bound = int(ctx.get("max_length", 0))
        return f"String should have at most {bound} character{'s' if bound != 1 else ''}"
    return str(err["msg"])


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

def request_id_of(request: Request | None) -> str:
    context = getattr(request, "context", None) or {}
    rid = context.get("requestId") if isinstance(context, dict) else None
    return str(rid) if rid and _TOKEN_RE.match(str(rid)) else str(uuid.uuid4())


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
    correlation_id = correlation if _TOKEN_RE.match(correlation) else request_id
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


def wrap_foreign_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: answers Chalice produces itself (415, 405, 500) get our envelope too, and
    every answer carries the contract's `API-Version`."""
    request_id = request_id_of(event)
    try:
        response = _foreign_to_envelope(get_response(event), request_id)
    except Exception as exc:
        response = map_exception(exc, request_id)
    response.headers["API-Version"] = versioning.API_VERSION
    return response


def _foreign_to_envelope(response: Response, request_id: str) -> Response:
    body = response.body
    if isinstance(body, dict) and "ok" not in body and response.status_code >= 400:
        code = {400: "VALIDATION_ERROR", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
                415: "UNSUPPORTED_MEDIA_TYPE"}.get(response.status_code, "INTERNAL_ERROR")
        message = str(body.get("Message") or body.get("message") or "request failed")
        if response.status_code >= 500:
            message = "an internal error occurred"
        extra = {k: str(v) for k, v in response.headers.items() if k.lower() in ("allow",)}
        return error_response(request_id, code=code, message=message, status=response.status_code,
                              headers=extra)
    return response
