"""An httpx transport that hands requests to the real app through Chalice's test client (no network),
so the Python client can be tested against the app in-process."""

from __future__ import annotations

import httpx
from chalice.test import Client as ChaliceClient


class ChaliceTransport(httpx.BaseTransport):
    def __init__(self, client: ChaliceClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        headers = {k.decode(): v.decode() for k, v in request.headers.raw if k.lower() != b"host"}
        answer = self._client.http.request(request.method, path, headers=headers, body=request.read())
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=answer.body or b"",
                              request=request)
