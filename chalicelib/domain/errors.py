"""Errors are types: services raise these, the API maps them to the envelope in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure. `code` and `status` feed the API envelope."""

    code = "ERROR"
    status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}  # extra response headers (Retry-After, Idempotent-Replayed)


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    status = 400


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class UnsupportedMediaType(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"
    status = 401


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = 403


class InsufficientCredits(DomainError):
    code = "INSUFFICIENT_CREDITS"
    status = 403


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409


class Duplicate(DomainError):
    code = "DUPLICATE"
    status = 409


class Gone(DomainError):
    code = "GONE"
    status = 410


class GuardrailRejected(DomainError):
    code = "GUARDRAIL_REJECTED"
    status = 422


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class FeatureDisabled(DomainError):
    code = "FEATURE_DISABLED"
    status = 503


class Unavailable(DomainError):
    code = "UNAVAILABLE"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(retry_after_s)
