"""The local HTTP server: Chalice's, answering as API Gateway is configured to in AWS.

- A path or method no route has is 404 NOT_FOUND in our envelope (API Gateway's default is a 403
  "Missing Authentication Token"; infra/chalice-merge.yaml maps it to the same envelope in AWS).
- The access log shows the path without its query string: signed upload and download links carry
  their token there, and logs must not hold credentials.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
)

_QUERY = re.compile(r"\?[^\s\"]*")


def not_found_body(request_id: str) -> bytes:
    return json.dumps({"ok": False, "error": {"code": "NOT_FOUND", "message": "no such route"},
                       "requestId": request_id}).encode()


class RequestHandler(ChaliceRequestHandler):
    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError):  # raised by the local gateway only when no route matches
            request_id = str(uuid.uuid4())
            self._send_http_response(404, {"Content-Type": "application/json", "X-Request-Id": request_id},
                                     not_found_body(request_id))
            return
        super()._send_error_response(error)

    def log_message(self, format: str, *args: Any) -> None:
        super().log_message(format, *(_QUERY.sub("", a) if isinstance(a, str) else a for a in args))


def create_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """Chalice's `create_local_server` with our handler. Like it, make `current_request` thread-local:
    the server answers requests in threads, and a shared one hands a request to another's view."""
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=RequestHandler)
