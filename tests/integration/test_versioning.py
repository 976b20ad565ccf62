"""The versioning policy: API-Version on every answer; a deprecation declared once shows in headers
and in the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from chalicelib.entrypoints.api import versioning
from chalicelib.entrypoints.api.framework import ROUTES
from chalicelib.entrypoints.api.versioning import Deprecation
from tests.support import Api, api_client

DEPRECATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SUNSET_AT = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


@pytest.fixture
def test_registry() -> Iterator[list[Deprecation]]:
    """Given a registry that deprecates GET /v1/credits (successor named) and CreditsOut.next_cursor."""
    entries = [
        Deprecation("GET", "/v1/credits", DEPRECATED_AT, SUNSET_AT, successor="/v1/credits/history"),
        Deprecation("GET", "/v1/credits", DEPRECATED_AT, SUNSET_AT, field="CreditsOut.next_cursor"),
    ]
    with versioning.use_registry(entries):
        yield entries


def test_every_answer_carries_the_api_version(api: Api) -> None:
    key, _ = api.register("versioned")
    answers = [
        api.get("/v1/health"),
        api.get("/v1/agents/me", key=key),
        api.get("/v1/agents/me"),  # 401
        api.get("/v1/agents/me", key=key, headers={"Authorization": "Bearer nope"}),
        api.post("/v1/submissions", key=key, raw="{"),  # 400
        api.get("/v1/submissions/not-a-uuid", key=key),
    ]
    for answer in answers:
        assert answer.headers["api-version"] == versioning.API_VERSION
    assert api.get("/v1/openapi.json").headers["api-version"] == versioning.API_VERSION


def test_every_registered_route_answers_with_the_api_version_even_when_refused(db: str) -> None:
    # A sweep over the whole route table, unauthenticated: public routes answer, others refuse.
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as client:
        for spec in ROUTES:
            path = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", spec.path)
            body = b"{}" if spec.method in ("POST", "PUT", "PATCH") else b""
            response = getattr(client.http, spec.method.lower())(
                path, headers={"Content-Type": "application/json"}, body=body)
            headers = {k.lower(): v for k, v in response.headers.items()}
            assert headers.get("api-version") == versioning.API_VERSION, (spec.method, spec.path)
            assert "deprecation" not in headers


def test_a_deprecated_route_announces_deprecation_sunset_and_successor(
    api: Api, test_registry: list[Deprecation]
) -> None:
    key, _ = api.register("old-client")
    answer = api.get("/v1/credits", key=key)
    assert answer.status == 200
    assert answer.headers["deprecation"] == f"@{int(DEPRECATED_AT.timestamp())}"
    assert parsedate_to_datetime(answer.headers["sunset"]) == SUNSET_AT
    assert '</v1/credits/history>; rel="successor-version"' in answer.headers["link"]
    # Errors of the deprecated route say so too; other routes do not.
    assert "deprecation" in api.get("/v1/credits").headers
    assert "deprecation" not in api.get("/v1/agents/me", key=key).headers


def test_openapi_marks_the_deprecated_route_and_field(api: Api, test_registry: list[Deprecation]) -> None:
    document = api.get("/v1/openapi.json").body
    operation = document["paths"]["/v1/credits"]["get"]
    assert operation["deprecated"] is True
    assert operation["x-successor-version"] == "/v1/credits/history"
    assert operation["x-sunset"].startswith("2026-09-01")
    assert document["components"]["schemas"]["CreditsOut"]["properties"]["next_cursor"]["deprecated"] is True
    assert "deprecated" not in document["paths"]["/v1/agents/me"]["get"]
    assert document["info"]["version"] == versioning.API_VERSION


def test_without_deprecations_nothing_is_marked(api: Api) -> None:
    document = api.get("/v1/openapi.json").body
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "deprecated" not in operation, (method, path)


@pytest.mark.parametrize("days", [0, 30, 182])
def test_a_sunset_needs_six_months_notice(days: int) -> None:
    from datetime import timedelta

    with pytest.raises(ValueError, match="six months"):
        Deprecation("GET", "/v1/credits", DEPRECATED_AT, DEPRECATED_AT + timedelta(days=days))


def test_the_shipped_registry_respects_the_policy() -> None:
    paths = {(spec.method, spec.path) for spec in ROUTES}
    for entry in versioning.DEPRECATIONS:
        assert (entry.method, entry.path) in paths, entry
        assert entry.sunset_at - entry.deprecated_at >= versioning.MIN_NOTICE
