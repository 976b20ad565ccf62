"""The local HTTP front: waitress serving the Chalice app through a small WSGI adapter.

Waitress is a production-grade, pure-Python WSGI server: it parses HTTP defensively (an invalid or
huge ``Content-Length``, oversized headers, chunked bodies), refuses a body over the limit before
reading it, keeps a real listen backlog and a pool of worker threads, and treats a client that hangs
up as routine. The adapter hands each request to Chalice's ``LocalGateway`` (the same API Gateway
emulation ``chalice local`` uses) and every error either of them owns answers with our envelope.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import CustomLocalChalice, LocalChalice, LocalGateway, LocalGatewayException
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server
from waitress.task import ErrorTask
from waitress.utilities import Error

from chalicelib.observability import logger

StartResponse = Callable[..., Any]

# Waitress's own refusals, as envelope error codes.
WAITRESS_CODES = {
    400: "VALIDATION_ERROR",
    413: "PAYLOAD_TOO_LARGE",
    431: "HEADERS_TOO_LARGE",
    501: "NOT_IMPLEMENTED",
}
MAX_HEADER_BYTES = 64 * 1024


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status"


def envelope_error(status: int, code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of an error envelope this layer answers by itself."""
    request_id = str(uuid.uuid4())
    body = json.dumps({"ok": False, "error": {"code": code, "message": message}, "requestId": request_id})
    headers = [("Content-Type", "application/json"), ("X-Request-Id", request_id)]
    return status_line(status), headers, body.encode()


class EnvelopeErrorTask(ErrorTask):  # type: ignore[misc]
    """Waitress's answer to a request it refused to parse, as an envelope instead of plain text."""

    def execute(self) -> None:
        error: Error = self.request.error
        code = WAITRESS_CODES.get(error.code, "INTERNAL_ERROR" if error.code >= 500 else "BAD_REQUEST")
        if error.code == 413:
            message = "request body is too large"
        elif error.code < 500:
            message = f"{error.reason.lower()}: {error.body}"
        else:
            message = "the request could not be served"
        status, headers, body = envelope_error(error.code, code, message)
        self.status = status
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class EnvelopeChannel(HTTPChannel):  # type: ignore[misc]
    error_task_class = EnvelopeErrorTask


class ChaliceWSGI:
    """A WSGI application that runs each request through Chalice's API Gateway emulation."""

    def __init__(self, app: Chalice, config: Config, max_body_bytes: int) -> None:
        if not isinstance(app, LocalChalice):
            # Chalice keeps the request being served on the app object; requests served in parallel
            # need it per thread. The same swap ``chalice local`` makes (create_local_server).
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self.gateway = LocalGateway(app, config)
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = self._serve(environ)
        except Exception:
            logger.exception("local server: unhandled error")
            status, headers, body = envelope_error(500, "INTERNAL_ERROR", "an internal error occurred")
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        # Access log: the path without its query string (signed upload/download links carry tokens there).
        print(f'"{environ["REQUEST_METHOD"]} {environ.get("PATH_INFO") or "/"}" {status.split()[0]} {len(body)}',
              file=sys.stderr, flush=True)
        # HEAD: the headers GET would send, with its Content-Length, and no body.
        return [] if str(environ["REQUEST_METHOD"]).upper() == "HEAD" else [body]

    def _serve(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        method = str(environ["REQUEST_METHOD"]).upper()
        length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress has checked it is digits
        if length > self.max_body_bytes:
            return envelope_error(413, "PAYLOAD_TOO_LARGE", f"request body is over {self.max_body_bytes} bytes")
        body = environ["wsgi.input"].read(length) if length else None
        headers = {key[5:].replace("_", "-").lower(): str(value)
                   for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        path = quote(str(environ.get("PATH_INFO") or "/"), safe="/:@!$&'()*+,;=-._~")
        if environ.get("QUERY_STRING"):
            path += "?" + str(environ["QUERY_STRING"])
        # HEAD is GET without a body: waitress sends the headers (with the GET length) and drops the body.
        gateway_method = "GET" if method == "HEAD" else method
        try:
            response = self.gateway.handle_request(method=gateway_method, path=path, headers=headers, body=body)
        except LocalGatewayException as exc:
            # The only one raised without an authorizer: no route matches the path.
            return envelope_error(404, "NOT_FOUND", "no such route") if exc.CODE == 403 else envelope_error(
                exc.CODE, "FORBIDDEN", "forbidden")
        status_code = int(response["statusCode"])
        out: list[tuple[str, str]] = []
        for name, value in (response.get("headers") or {}).items():
            if name.lower() != "content-length":
                out.append((name, str(value)))
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out.extend((name, str(v)) for v in values)
        if not any(name.lower() == "content-type" for name, _ in out):
            out.append(("Content-Type", "application/json"))
        raw = response.get("body")
        if raw is None:
            payload = b""
        elif response.get("isBase64Encoded"):
            payload = base64.b64decode(raw)
        else:
            payload = raw if isinstance(raw, bytes) else str(raw).encode()
        return status_line(status_code), out, payload


def make_server(app: Chalice, config: Config, host: str, port: int, *, max_body_bytes: int,
                threads: int = 8) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server (not yet running) for ``app`` on ``host:port``."""
    server = create_server(
        ChaliceWSGI(app, config, max_body_bytes),
        host=host,
        port=port,
        threads=threads,
        backlog=1024,
        connection_limit=200,
        channel_timeout=60,
        max_request_body_size=max_body_bytes + 1,
        max_request_header_size=MAX_HEADER_BYTES,
        ident="peerguard",
        clear_untrusted_proxy_headers=True,
    )
    server.channel_class = EnvelopeChannel
    # "Task queue depth is N": every request waiting for a free thread, logged as a warning; not news.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return server
