"""What the sync and async clients share: request shaping, answer decoding, the retry policy and
deprecation warnings. No I/O here."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from peerguard_client.errors import error_for

logger = logging.getLogger("peerguard_client")

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 10.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
USER_AGENT = "peerguard-client/1.1.0"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; Retry-After, when sent, is honoured (up to a cap)."""

    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1`."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** attempt))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class Page(Generic[T]):
    """One page of a list route; pass `next_cursor` back to get the next one (None on the last)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Call:
    """One API call as both clients send it."""

    method: str
    route: str  # the path template, e.g. /v1/submissions/{id}
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def retry_on_transport_error(self) -> bool:
        """A request that may have reached the server is resent only when that is harmless."""
        return self.method in IDEMPOTENT_METHODS or "Idempotency-Key" in self.headers


def build_call(method: str, route: str, *, path_params: dict[str, Any] | None = None,
               params: dict[str, Any] | None = None, body: BaseModel | dict[str, Any] | None = None,
               idempotency_key: str | None = None) -> Call:
    path = route.format(**{k: quote(str(v), safe="") for k, v in (path_params or {}).items()})
    payload: Any = None
    if isinstance(body, BaseModel):
        payload = body.model_dump(mode="json", exclude_unset=True, by_alias=True)
    elif body is not None:
        payload = body
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
    return Call(method, route, path, query or None, payload, headers)


def new_idempotency_key() -> str:
    return f"pgc-{uuid.uuid4()}"


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def should_retry(response: httpx.Response) -> bool:
    """429, 502, 503 and 504 are retried; a feature switched off (503 FEATURE_DISABLED) is not."""
    if response.status_code not in RETRY_STATUSES:
        return False
    if response.status_code == 503:
        try:
            body = response.json()
        except ValueError:
            return True
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        return code != "FEATURE_DISABLED"
    return True


def retryable_transport_error(exc: httpx.TransportError, call: Call) -> bool:
    """Failures before the request left are always safe to retry; others only for idempotent calls."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return call.retry_on_transport_error


class DeprecationNotices:
    """Logs one warning per deprecated route this client calls."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def observe(self, call: Call, response: httpx.Response) -> None:
        if "deprecation" not in response.headers:
            return
        key = (call.method, call.route)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        logger.warning(
            "%s %s is deprecated (Deprecation: %s); sunset %s; successor %s",
            call.method, call.route, response.headers.get("deprecation"),
            response.headers.get("sunset", "not announced"), response.headers.get("link", "none"),
        )

    @property
    def seen(self) -> set[tuple[str, str]]:
        return set(self._seen)


def decode(response: httpx.Response, adapter: TypeAdapter[Any] | None) -> tuple[Any, dict[str, Any]]:
    """The typed `data` and the `meta` of a successful answer; a typed ApiError otherwise."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict) or body.get("ok") is not True:
        raise error_for(response.status_code, body, headers)
    data = body.get("data")
    meta = body.get("meta") or {}
    value = adapter.validate_python(data) if adapter is not None else data
    return value, meta


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def adapter_for(kind: Any) -> TypeAdapter[Any]:
    """A cached TypeAdapter (building one costs more than a call's parsing)."""
    cached = _ADAPTERS.get(kind)
    if cached is None:
        cached = _ADAPTERS[kind] = TypeAdapter(kind)
    return cached


def auth_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class DecisionPoll:
    """The backoff of wait_for_decision: starts short, grows by `factor`, never above `max_interval_s`."""

    def __init__(self, initial_s: float, max_interval_s: float, factor: float) -> None:
        self._next = initial_s
        self._max = max_interval_s
        self._factor = factor

    def next_interval(self) -> float:
        current = self._next
        self._next = min(self._max, self._next * self._factor)
        return current
