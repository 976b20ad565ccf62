"""The Python client against the real app (in-process through Chalice's test client): its generated
models match the live OpenAPI document, its errors cover every code the API answers with, and it
warns once about a deprecated route."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chalice.test import Client as ChaliceClient
from peerguard_client import AdminClient, Client, errors
from peerguard_client._codegen import generate

from chalicelib.domain.errors import DomainError
from chalicelib.entrypoints.api import versioning
from tests.client_transport import ChaliceTransport
from tests.support import admin_key

MODELS = Path(__file__).resolve().parents[2] / "clients" / "python" / "peerguard_client" / "models.py"


@pytest.fixture
def transport(db: str) -> Iterator[ChaliceTransport]:
    from app import app

    with ChaliceClient(app, stage_name="test") as chalice_client:
        yield ChaliceTransport(chalice_client)


def charge_for_submissions(transport: ChaliceTransport) -> None:
    AdminClient("http://app.test", api_key=admin_key(), transport=transport).set_flag(
        "SUBMISSION_COSTS_ENABLED", True, reason="the story pays for its submissions")


def agent(transport: ChaliceTransport, name: str = "client-agent") -> Client:
    client = Client("http://app.test", transport=transport, sleep=lambda _: None)
    client.register(name, description="maps clinics")
    return client


def test_the_committed_models_are_what_the_live_openapi_document_generates(transport: ChaliceTransport) -> None:
    import httpx

    with httpx.Client(base_url="http://app.test", transport=transport) as http:
        document = http.get("/v1/openapi.json").json()
    # One schema per name: a name clash would give a module-qualified name (and a confusing model).
    assert all("__" not in name for name in document["components"]["schemas"])
    assert MODELS.read_text() == generate(document), (
        "clients/python/peerguard_client/models.py is stale: regenerate it with "
        "`python -m peerguard_client._codegen http://127.0.0.1:8000/v1/openapi.json > models.py`"
    )


def _codes(cls: type[DomainError]) -> set[str]:
    found = {cls.code}
    for sub in cls.__subclasses__():
        found |= _codes(sub)
    return found


def test_every_error_code_of_the_api_has_its_own_client_exception() -> None:
    server_codes = (_codes(DomainError) - {"ERROR"}) | {"INTERNAL_ERROR", "METHOD_NOT_ALLOWED",
                                                       "UNSUPPORTED_MEDIA_TYPE"}
    assert server_codes <= set(errors.ERRORS_BY_CODE), server_codes - set(errors.ERRORS_BY_CODE)
    for code, cls in errors.ERRORS_BY_CODE.items():
        assert cls.code == code and issubclass(cls, errors.ApiError)


def test_an_agent_registers_submits_pages_its_credits_and_gets_typed_errors(transport: ChaliceTransport) -> None:
    charge_for_submissions(transport)
    client = agent(transport)
    me = client.me()
    assert me.name == "client-agent" and me.balance is not None and me.balance.millicredits == 50_000
    for i in range(3):
        client.submit("problem", f"Broken ramp {i}", "Wheelchair users cannot enter the clinic.")
    lines = list(client.iter_credits(page_size=1))
    assert [line.kind for line in lines].count("submission_fee") == 3
    assert len({line.id for line in lines}) == len(lines) == 4
    assert len(list(client.iter_submissions(page_size=2))) == 3

    with pytest.raises(errors.GuardrailRejected) as rejected:
        client.submit("problem", "Build a surveillance network", "Track every phone in the city covertly.")
    assert rejected.value.request_id and rejected.value.details
    with pytest.raises(errors.NotFound):
        client.submission("00000000-0000-0000-0000-000000000000")
    with pytest.raises(errors.Unauthorized):
        Client("http://app.test", api_key="pgk_wrong", transport=transport).me()
    with pytest.raises(errors.Forbidden):
        AdminClient("http://app.test", api_key=client.api_key, transport=transport).flags()


def test_a_retried_submission_is_stored_and_charged_once(transport: ChaliceTransport) -> None:
    charge_for_submissions(transport)
    client = agent(transport)
    first = client.submit("solution", "Ramp", "Build a ramp at the clinic door.", idempotency_key="ramp-1")
    again = client.submit("solution", "Ramp", "Build a ramp at the clinic door.", idempotency_key="ramp-1")
    assert first.id == again.id
    assert [line.kind for line in client.iter_credits()].count("submission_fee") == 1


def test_the_admin_client_reads_flags_and_the_pool(transport: ChaliceTransport) -> None:
    admin = AdminClient("http://app.test", api_key=admin_key(), transport=transport)
    names = {flag.name for flag in admin.flags()}
    assert "PEER_VALIDATION_TRAFFIC_PCT" in names
    written = admin.set_flag("PEER_VALIDATION_ENABLED", True, reason="client test")
    assert written.name == "PEER_VALIDATION_ENABLED" and written.model_dump()["value"] is True
    assert admin.validators().items == []


def test_the_client_warns_once_per_deprecated_route(transport: ChaliceTransport,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    # Given a registry that deprecates GET /v1/agents/me
    entry = versioning.Deprecation("GET", "/v1/agents/me", datetime(2026, 1, 1, tzinfo=UTC),
                                   datetime(2026, 9, 1, tzinfo=UTC), successor="/v1/agents/me/profile")
    client = agent(transport)
    with versioning.use_registry([entry]), caplog.at_level(logging.WARNING, logger="peerguard_client"):
        client.me()
        client.me()
        client.credits()
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1 and "GET /v1/agents/me" in warnings[0]
    assert client.deprecated_routes_seen == {("GET", "/v1/agents/me")}


def test_the_admin_client_manages_a_delivery_schedule(transport: ChaliceTransport) -> None:
    from peerguard_client import models

    admin = AdminClient("http://app.test", api_key=admin_key(), transport=transport)
    body = models.ScheduleBody(partner="Lyon", target="http://127.0.0.1:9/hook", cron="0 6 * * *",
                               format="csv")
    created = admin.create_delivery_schedule(body)
    assert len(created.schedule.next_runs) == 3 and created.secret
    sid = created.schedule.id
    assert admin.delivery_schedule(sid).format == "csv"
    assert admin.preview_delivery(sid).items == 0
    run = admin.run_delivery_now(sid)
    assert run.status == "queued"
    with pytest.raises(errors.Conflict):
        admin.run_delivery_now(sid)
    assert [r.id for r in admin.delivery_runs(sid).items] == [run.id]
    assert admin.delivery_stats().schedules[0].partner == "Lyon"
    admin.delete_delivery_schedule(sid)
    with pytest.raises(errors.NotFound):
        admin.delivery_schedule(sid)
