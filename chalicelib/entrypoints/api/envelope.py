"""The envelope every answer wears, and the one mapping from exceptions to error answers.

Success: `{ok: true, data, meta?, requestId}`; failure: `{ok: false, error: {code, message, details?},
requestId}`, with the request id also in `X-Request-Id`. Answers Chalice produces itself (405, 415, 500)
are rewritten into the same shape by the `wrap_foreign_errors` middleware.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib import bootstrap
from chalicelib.domain.errors import DomainError, RateLimited, Unavailable
from chalicelib.entrypoints.api import versioning
from chalicelib.observability import emit, logger

# A request or correlation id taken from outside is kept only when it looks like one.
TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DB_RETRY_AFTER_S = 5


def request_id_of(request: Request | None) -> str:
    context = getattr(request, "context", None) or {}
    rid = context.get("requestId") if isinstance(context, dict) else None
    return str(rid) if rid and TOKEN_RE.match(str(rid)) else str(uuid.uuid4())


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
