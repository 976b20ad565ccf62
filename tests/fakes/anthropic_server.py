"""A local stand-in for the Anthropic API, speaking its wire format, for the real ``anthropic`` client.

It serves ``POST /v1/messages`` and the Message Batches API (create, retrieve, JSONL results) on
127.0.0.1 at a random free port, from a thread. Each ``/v1/messages`` call consumes the next
scripted behaviour (success, a text-only answer, invalid tool input, a non-JSON body, an HTTP
error with ``retry-after``, a delay past the client's timeout, a dropped connection); with the
queue empty it answers with a valid tool call computed from the request. Every request is
recorded so tests can check what the client sent.

    with FakeAnthropic() as api:
        api.enqueue(HttpError(529, retry_after=1), Success())
        classifier = AnthropicClassifier(api_key=api.api_key, base_url=api.base_url, ...)
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# --- behaviours -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Success:
    """A forced tool call. ``assessment`` None: computed from the request's tool schema."""

    assessment: dict[str, Any] | None = None
    usage: dict[str, int] | None = None
    tool_name: str | None = None  # another name than the one requested: a wrong tool


@dataclass(frozen=True)
class ToolCallMissing:
    """The model answers in prose: one text block, stop_reason end_turn."""

    text: str = "I think this submission is fine."


@dataclass(frozen=True)
class InvalidToolInput:
    """A tool_use block whose input breaks the schema."""

    tool_input: dict[str, Any] = field(
        default_factory=lambda: {"aligned_domain": "astrology", "alignment_score": 1.7}
    )


@dataclass(frozen=True)
class InvalidJsonBody:
    """HTTP 200, ``application/json``, a body that is not JSON."""

    body: bytes = b'{"id": "msg_broken", "content": [ {"type": "tool_use",'


@dataclass(frozen=True)
class HttpError:
    """An API error in the API's shape: ``{"type": "error", "error": {"type", "message"}}``."""

    status: int
    retry_after: float | None = None
    retry_after_ms: int | None = None
    error_type: str | None = None
    message: str = "scripted error"


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (longer than the client's timeout), then behave like ``then``."""

    seconds: float
    then: Any = field(default_factory=Success)


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without answering."""


@dataclass(frozen=True)
class BatchErrored:
    """A Message Batches line of type ``errored``."""

    error_type: str = "invalid_request_error"


@dataclass(frozen=True)
class BatchExpired:
    """A Message Batches line of type ``expired``."""


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# --- the default answer -----------------------------------------------------------------------

_NUMBER_DEFAULTS = {"alignment_score": 0.82, "harm_risk": 0.05, "feasibility": 0.7, "quality": 0.75}


def default_tool_input(request: dict[str, Any]) -> dict[str, Any]:
    """A valid input for the requested tool, from its schema: enums take the value the user turn
    mentions (the declared domain), else the first one; numbers a plausible score."""
    tool = _requested_tool(request)
    schema = tool.get("input_schema", {}) if tool else {}
    text = json.dumps(request.get("messages", []), ensure_ascii=False)
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if "enum" in prop:
            mentioned = [v for v in prop["enum"] if f'\\"{v}\\"' in text or f'"{v}"' in text]
            out[name] = mentioned[0] if mentioned else prop["enum"][0]
        elif prop.get("type") in ("number", "integer"):
            out[name] = _NUMBER_DEFAULTS.get(name, 0.5)
        else:
            out[name] = "Scripted assessment from the local fake API."
    return out


def _requested_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    tools = request.get("tools") or []
    choice = request.get("tool_choice") or {}
    for tool in tools:
        if choice.get("type") == "tool" and tool.get("name") == choice.get("name"):
            return dict(tool)
    return dict(tools[0]) if tools else None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- the server -------------------------------------------------------------------------------


class FakeAnthropic:
    """The fake API. Use as a context manager; ``base_url`` and ``api_key`` configure the client."""

    def __init__(self, *, api_key: str = "sk-test-fake-key", batch_polls_before_end: int = 1) -> None:
        self.api_key = api_key
        self.batch_polls_before_end = batch_polls_before_end
        self.requests: list[RecordedRequest] = []
        self.batch_outcomes: dict[str, Any] = {}  # custom_id -> Success/InvalidToolInput/BatchErrored/...
        self._queue: deque[Any] = deque()
        self._batch_errors: deque[HttpError] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._cached_prefixes: set[str] = set()
        self._batches: dict[str, dict[str, Any]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def __enter__(self) -> FakeAnthropic:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = _handler_for(self)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a Delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # scripting and inspection

    def enqueue(self, *behaviours: Any) -> None:
        """Script the next ``POST /v1/messages`` answers, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def enqueue_batch_errors(self, *errors: HttpError) -> None:
        """Answer the next ``POST /v1/messages/batches`` calls with these errors, in order."""
        with self._lock:
            self._batch_errors.extend(errors)

    def reset(self) -> None:
        """Forget scripts, recordings, batches and the prompt cache (between tests)."""
        with self._lock:
            self._queue.clear()
            self._batch_errors.clear()
            self.requests.clear()
            self.batch_outcomes.clear()
            self._batches.clear()
            self._cached_prefixes.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    # request handling (called from server threads)

    def _next_behaviour(self) -> Any:
        with self._lock:
            return self._queue.popleft() if self._queue else Success()

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_fake{next(self._ids):06d}"

    def _usage_for(self, request: dict[str, Any], override: dict[str, int] | None) -> dict[str, int]:
        """Token counts shaped like the API's: the cached prefix (tools + system up to the
        cache_control breakpoint) is written on first sight and read afterwards."""
        if override is not None:
            usage = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, **override}
            return usage
        system = request.get("system")
        cached_text = ""
        if isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system):
            cached_text = json.dumps(request.get("tools", [])) + json.dumps(system)
        uncached = json.dumps(request.get("messages", []))
        if not cached_text:
            uncached += json.dumps(system or "") + json.dumps(request.get("tools", []))
        cached_tokens = len(cached_text) // 4
        with self._lock:
            hit = cached_text in self._cached_prefixes
            if cached_text:
                self._cached_prefixes.add(cached_text)
        return {
            "input_tokens": max(1, len(uncached) // 4),
            "output_tokens": 96,
            "cache_creation_input_tokens": 0 if hit else cached_tokens,
            "cache_read_input_tokens": cached_tokens if hit else 0,
        }

    def message_body(self, request: dict[str, Any], behaviour: Any) -> dict[str, Any]:
        """The Messages API response object for a successful HTTP exchange."""
        tool = _requested_tool(request) or {"name": "tool"}
        if isinstance(behaviour, ToolCallMissing):
            content: list[dict[str, Any]] = [{"type": "text", "text": behaviour.text}]
            stop_reason = "end_turn"
            usage = self._usage_for(request, None)
        else:
            if isinstance(behaviour, InvalidToolInput):
                tool_input, name, usage_override = behaviour.tool_input, tool["name"], None
            else:
                tool_input = behaviour.assessment or default_tool_input(request)
                name = behaviour.tool_name or tool["name"]
                usage_override = behaviour.usage
            content = [{"type": "tool_use", "id": self._next_id("toolu"), "name": name, "input": tool_input}]
            stop_reason = "tool_use"
            usage = self._usage_for(request, usage_override)
        return {
            "id": self._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": request.get("model", "unknown"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        batch_id = self._next_id("msgbatch")
        lines = []
        for entry in body.get("requests", []):
            custom_id, params = entry["custom_id"], entry["params"]
            outcome = self.batch_outcomes.get(custom_id, Success())
            if isinstance(outcome, BatchErrored):
                result: dict[str, Any] = {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {"type": outcome.error_type, "message": "scripted batch error"},
                    },
                }
            elif isinstance(outcome, BatchExpired):
                result = {"type": "expired"}
            else:
                result = {"type": "succeeded", "message": self.message_body(params, outcome)}
            lines.append({"custom_id": custom_id, "result": result})
        with self._lock:
            self._batches[batch_id] = {
                "lines": lines,
                "created_at": _now(),
                "polls_left": self.batch_polls_before_end,
            }
            return self._batch_object(batch_id)

    def _batch_object(self, batch_id: str) -> dict[str, Any]:
        batch = self._batches[batch_id]
        ended = batch["polls_left"] <= 0
        created: datetime = batch["created_at"]
        lines = batch["lines"]
        counts = {
            "processing": 0 if ended else len(lines),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        if ended:
            for line in lines:
                counts[line["result"]["type"]] += 1
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": _iso(created),
            "expires_at": _iso(created + timedelta(hours=24)),
            "ended_at": _iso(created + timedelta(seconds=42)) if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    def retrieve_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None
            obj = self._batch_object(batch_id)
            batch["polls_left"] -= 1
            return obj

    def batch_results(self, batch_id: str) -> bytes | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None or batch["polls_left"] > 0:
                return None
            return b"".join(json.dumps(line).encode() + b"\n" for line in batch["lines"])


_BATCH_PATH = re.compile(r"^/v1/messages/batches/(?P<id>[A-Za-z0-9_-]+)(?P<results>/results)?$")


def _handler_for(api: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one response, no 40 ms delayed-ACK stall per request

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _record(self) -> Any:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            with api._lock:
                api.requests.append(RecordedRequest(self.command, path, headers, body))
            return body

        def _authorised(self) -> bool:
            expected = api.api_key
            bearer = self.headers.get("authorization", "")
            return bearer == f"Bearer {expected}" or self.headers.get("x-api-key") == expected

        def _send(
            self, status: int, payload: bytes, content_type: str, extra: dict[str, str] | None = None
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", api._next_id("req"))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to answer

        def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json", extra)

        def _error(
            self, status: int, error_type: str, message: str, extra: dict[str, str] | None = None
        ) -> None:
            body = {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": api._next_id("req"),
            }
            self._json(status, body, extra)

        def do_GET(self) -> None:
            self._record()
            if not self._authorised():
                return self._error(401, "authentication_error", "invalid x-api-key")
            match = _BATCH_PATH.match(self.path.split("?", 1)[0])
            if not match:
                return self._error(404, "not_found_error", "no such route")
            batch_id = match.group("id")
            if match.group("results"):
                data = api.batch_results(batch_id)
                if data is None:
                    return self._error(404, "not_found_error", "results not available")
                return self._send(200, data, "application/binary")
            obj = api.retrieve_batch(batch_id)
            if obj is None:
                return self._error(404, "not_found_error", "no such batch")
            return self._json(200, obj)

        def do_POST(self) -> None:
            body = self._record()
            if not self._authorised():
                return self._error(401, "authentication_error", "invalid x-api-key")
            path = self.path.split("?", 1)[0]
            if path == "/v1/messages/batches":
                with api._lock:
                    scripted = api._batch_errors.popleft() if api._batch_errors else None
                if scripted is not None:
                    return self._respond(scripted, {})
                return self._json(200, api.create_batch(body or {}))
            if path != "/v1/messages":
                return self._error(404, "not_found_error", "no such route")
            self._respond(api._next_behaviour(), body or {})

        def _respond(self, behaviour: Any, request: dict[str, Any]) -> None:
            if isinstance(behaviour, Delay):
                if api._stopping.wait(behaviour.seconds):
                    return
                behaviour = behaviour.then
            if isinstance(behaviour, Disconnect):
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(behaviour, HttpError):
                extra: dict[str, str] = {}
                if behaviour.retry_after is not None:
                    extra["retry-after"] = f"{behaviour.retry_after:g}"
                if behaviour.retry_after_ms is not None:
                    extra["retry-after-ms"] = str(behaviour.retry_after_ms)
                error_type = behaviour.error_type or ERROR_TYPES.get(behaviour.status, "api_error")
                return self._error(behaviour.status, error_type, behaviour.message, extra)
            if isinstance(behaviour, InvalidJsonBody):
                return self._send(200, behaviour.body, "application/json")
            return self._json(200, api.message_body(request, behaviour))

    return Handler


# --- no request may leave the machine ---------------------------------------------------------


def _is_loopback(host: Any) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def outbound_network_blocked() -> Iterator[list[str]]:
    """Refuse DNS lookups and connections to anything but loopback; yields the refused hosts."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(host):
            refused.append(str(host))
            raise ConnectionRefusedError(f"test network guard: connection to {host} refused")
        real_connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            refused.append(str(host))
            raise socket.gaierror(f"test network guard: lookup of {host} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    setattr(socket.socket, "connect", guarded_connect)  # noqa: B010
    socket.getaddrinfo = guarded_getaddrinfo
    try:
        yield refused
    finally:
        setattr(socket.socket, "connect", real_connect)  # noqa: B010
        socket.getaddrinfo = real_getaddrinfo
