"""Story helpers for tests: an HTTP-ish client over the Chalice app and a synchronous dispatcher."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalice.test import Client

from chalicelib import bootstrap


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def data(self) -> Any:
        assert self.body.get("ok") is True, self.body
        return self.body["data"]

    @property
    def error(self) -> dict[str, Any]:
        assert self.body.get("ok") is False, self.body
        error: dict[str, Any] = self.body["error"]
        return error


class Api:
    """Calls the app through Chalice's test client: API Gateway events, no network."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def call(self, method: str, path: str, *, key: str | None = None, body: Any = None,
             raw: bytes | str | None = None, headers: dict[str, str] | None = None) -> Answer:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        payload: bytes | str | None = raw
        if body is not None:
            payload = json.dumps(body)
        response = getattr(self._client.http, method.lower())(path, headers=all_headers, body=payload or b"")
        parsed = json.loads(response.body) if response.body else {}
        return Answer(response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()})

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Answer:
        return self.call("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Answer:
        return self.call("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)

    def register(self, name: str = "agent", *, kind: str = "agent", key: str | None = None,
                 **extra: Any) -> tuple[str, dict[str, Any]]:
        answer = self.post("/v1/agents", body={"name": name, "kind": kind, **extra}, key=key)
        assert answer.status == 201, answer.body
        return answer.data["api_key"], answer.data["agent"]


@contextmanager
def api_client() -> Iterator[Api]:
    from app import app

    with Client(app, stage_name="test") as client:
        yield Api(client)


def drain_outbox(max_rounds: int = 50) -> int:
    """Deliver every due outbox message to its handler, as the local dispatcher would; returns count."""
    from chalicelib.services.outbox_relay import relay
    from local.dispatcher import LocalSender
    from local.handlers import local_handlers

    sender = LocalSender(local_handlers())
    total = 0
    for _ in range(max_rounds):
        sent = relay(bootstrap.unit_of_work(), sender, limit=50)
        total += sent
        if sent == 0:
            break
    return total


def admin_key() -> str:
    from chalicelib.services.agents import create_admin_key

    return create_admin_key(bootstrap.unit_of_work(), label="test")
