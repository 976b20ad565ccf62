"""Typed errors: one class per error code of the API's envelope, each with requestId and details."""

from __future__ import annotations

from typing import Any


class PeerguardError(Exception):
    """Base of every error the client raises."""


class TransportError(PeerguardError):
    """The server could not be reached (after the retries), or the call timed out."""


class DecisionTimeout(PeerguardError):
    """`wait_for_decision` gave up while the submission was still pending."""

    def __init__(self, submission_id: str, waited_s: float) -> None:
        super().__init__(f"submission {submission_id} still pending after {waited_s:.1f} s")
        self.submission_id = submission_id
        self.waited_s = waited_s


class ApiError(PeerguardError):
    """An answer of the API with `ok: false`. Subclasses name the code; unknown codes stay ApiError."""

    code = "ERROR"

    def __init__(self, *, status: int, code: str, message: str, request_id: str | None,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message} (requestId {request_id})")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details
        self.headers = headers or {}


class ValidationError(ApiError):
    code = "VALIDATION_ERROR"


class Unauthorized(ApiError):
    code = "UNAUTHORIZED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class InsufficientCredits(ApiError):
    code = "INSUFFICIENT_CREDITS"


class NotFound(ApiError):
    code = "NOT_FOUND"


class MethodNotAllowed(ApiError):
    code = "METHOD_NOT_ALLOWED"


class Conflict(ApiError):
    code = "CONFLICT"


class Duplicate(ApiError):
    code = "DUPLICATE"


class Gone(ApiError):
    code = "GONE"


class PayloadTooLarge(ApiError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class GuardrailRejected(ApiError):
    code = "GUARDRAIL_REJECTED"


class RateLimited(ApiError):
    code = "RATE_LIMITED"

    @property
    def retry_after_s(self) -> float | None:
        """The server's Retry-After, in seconds, when it sent one."""
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class FeatureDisabled(ApiError):
    code = "FEATURE_DISABLED"


class Unavailable(ApiError):
    code = "UNAVAILABLE"


class InternalError(ApiError):
    code = "INTERNAL_ERROR"


ERRORS_BY_CODE: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (ValidationError, Unauthorized, Forbidden, InsufficientCredits, NotFound, MethodNotAllowed,
                Conflict, Duplicate, Gone, PayloadTooLarge, UnsupportedMediaType, GuardrailRejected,
                RateLimited, FeatureDisabled, Unavailable, InternalError)
}


def error_for(status: int, body: Any, headers: dict[str, str]) -> ApiError:
    """The typed error of one failed answer (a body that is not our envelope still gives an ApiError)."""
    error = body.get("error") if isinstance(body, dict) else None
    request_id = (body.get("requestId") if isinstance(body, dict) else None) or headers.get("x-request-id")
    if not isinstance(error, dict):
        return ApiError(status=status, code=f"HTTP_{status}", message="the server answered without an envelope",
                        request_id=request_id, headers=headers)
    code = str(error.get("code") or f"HTTP_{status}")
    cls = ERRORS_BY_CODE.get(code, ApiError)
    return cls(status=status, code=code, message=str(error.get("message", "")), request_id=request_id,
               details=error.get("details"), headers=headers)
