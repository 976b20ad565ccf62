"""Finding 8: the smaller holes, each with its test (and a sweep where the hole is one of a class)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from PIL import Image
from pydantic import BaseModel, ValidationError

from chalicelib.bootstrap import unit_of_work
from chalicelib.entrypoints.api.envelope import validation_details
from chalicelib.entrypoints.api.framework import ROUTES
from tests.integration.evidence_support import World, leaky_jpeg, world  # noqa: F401 - the fixture
from tests.integration.test_attestations import make_problem
from tests.support import Api, admin_key, api_client

GOOD = {"kind": "problem", "title": "Flooded underpass on Elm Street",
        "body": "The underpass floods after every storm and children walk through it to school.",
        "domain": "disaster_response"}
BLOCKED = {**GOOD, "title": "Plan", "body": "Build a mass surveillance system to track dissidents covertly."}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(out, format="PNG")
    return out.getvalue()


# --- mission_id -----------------------------------------------------------------------------------

def test_finding_8_mission_id_must_name_an_open_mission(world: World, db: str) -> None:  # noqa: F811
    unknown = world.api.post("/v1/submissions", key=world.agent, body={**GOOD, "mission_id": str(uuid4())})
    assert unknown.status == 404 and unknown.error["details"]["field"] == "mission_id"
    real = world.api.post("/v1/submissions", key=world.agent, body={**GOOD, "mission_id": world.mission["id"]})
    assert real.status == 201, real.body
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE missions SET status = 'cancelled' WHERE id = %s", (UUID(world.mission["id"]),))
        stored = conn.execute("SELECT count(*) FROM submissions").fetchone()
    closed = world.api.post("/v1/submissions", key=world.agent,
                            body={**GOOD, "title": "Another one", "mission_id": world.mission["id"]})
    assert closed.status == 409
    assert stored is not None and stored[0] == 1  # nothing written by the refused ones


# --- photo bytes against the declared type ---------------------------------------------------------

@pytest.mark.parametrize(("declared", "make"), [("image/jpeg", png_bytes), ("image/png", leaky_jpeg)])
def test_finding_8_a_photo_whose_bytes_are_another_type_is_refused(world: World, declared: str,  # noqa: F811
                                                                   make: Any) -> None:
    data = make()
    registered = world.register(data=data, content_type=declared)
    assert registered.status == 201, registered.body
    answer = world.upload(registered.data, data)
    assert answer.status == 415 and answer.error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert answer.error["details"]["declared"] == declared


def test_finding_8_the_privacy_stage_refuses_mismatched_bytes_that_reached_storage(world: World) -> None:  # noqa: F811
    """S3 takes a presigned PUT without looking at the bytes: the privacy stage checks them."""
    from chalicelib.services import evidence_upload, privacy_stage
    from functions.privacy.handler import clean_photo

    data = png_bytes()
    registered = world.register(data=data, content_type="image/jpeg").data
    evidence_id = UUID(registered["evidence"]["id"])
    from chalicelib import bootstrap

    bootstrap.blob_store().put(evidence_upload.quarantine_key(evidence_id), data, "image/jpeg")
    assert privacy_stage.process_evidence(unit_of_work(), bootstrap.blob_store(), evidence_id,
                                             clean_photo) == "rejected"
    assert world.evidence(str(evidence_id))["status"] == "rejected"


def test_finding_8_captured_at_before_2000_is_refused(world: World) -> None:  # noqa: F811
    for when in ("0001-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00", "1999-12-31T23:59:59+05:00"):
        answer = world.register(captured_at=when)
        assert answer.status == 400 and answer.error["details"][0]["field"] == "captured_at", when


# --- names and titles ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["   ", "\t\n", "\u2003\u3000", "\u200b\u200b", "\u3164", "\u2800 \u2800",
                                  "\u202eexe.png", "ok\u2066name", "name\u202c"])
def test_finding_8_blank_names_and_titles_and_bidi_controls_are_refused(api: Api, text: str) -> None:
    assert api.post("/v1/agents", body={"name": text}).status == 400
    key, _ = api.register("writer")
    answer = api.post("/v1/submissions", key=key, body={**GOOD, "title": text})
    assert answer.status == 400 and answer.error["details"][0]["field"] == "title"


def test_finding_8_names_in_any_script_with_inner_spaces_are_fine(api: Api) -> None:
    for name in ("Ana María", "محمد", "李 小龙", "a"):
        assert api.post("/v1/agents", body={"name": name}).status == 201


# --- JSON and media types --------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    '{"name": "a", "name": "b"}',
    '{"name": "a", "kind": "agent", "kind": "human"}',
    '{"kind": "problem", "title": "t", "body": "b", "location": {"latitude": 1, "latitude": 2, "longitude": 3}}',
])
def test_finding_8_duplicate_json_keys_are_refused_at_any_depth(api: Api, raw: str) -> None:
    key, _ = api.register("writer")
    path = "/v1/submissions" if "problem" in raw else "/v1/agents"
    answer = api.post(path, raw=raw, key=key if path == "/v1/submissions" else None)
    assert answer.status == 400 and answer.error["details"][0]["type"] == "duplicate_key", answer.body


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "*/*",
                                          "application/jsonx"])
def test_finding_8_a_json_route_refuses_missing_or_other_content_types_with_415(api: Api, db: str,
                                                                                 content_type: str | None) -> None:
    from chalice.test import Client

    from app import app

    headers = {"Content-Type": content_type} if content_type else {}
    with Client(app, stage_name="test") as client:
        response = client.http.post("/v1/agents", headers=headers, body=json.dumps({"name": "typed"}).encode())
    body = json.loads(response.body)
    assert response.status_code == 415, body
    assert body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM agents").fetchone()
    assert row is not None and row[0] == 0


def test_finding_8_json_with_a_charset_is_still_json(api: Api) -> None:
    answer = api.post("/v1/agents", body={"name": "typed"}, headers={"Content-Type": "application/json; charset=utf-8"})
    assert answer.status == 201


# --- idempotent replay of a 422 -------------------------------------------------------------------

def test_finding_8_a_replayed_422_says_idempotent_replayed(api: Api) -> None:
    key, _ = api.register("writer")
    first = api.post("/v1/submissions", key=key, body=BLOCKED, headers={"Idempotency-Key": "k-1"})
    assert first.status == 422 and "idempotent-replayed" not in first.headers
    again = api.post("/v1/submissions", key=key, body=BLOCKED, headers={"Idempotency-Key": "k-1"})
    assert again.status == 422 and again.headers["idempotent-replayed"] == "true"
    assert again.error["details"]["submission_id"] == first.error["details"]["submission_id"]


# --- attestations of unpublished problems ---------------------------------------------------------

@pytest.mark.parametrize("status", ["pending", "rejected", "flagged"])
def test_finding_8_attestations_of_an_unpublished_problem_are_hidden_from_others(api: Api, db: str,
                                                                                  status: str) -> None:
    author, agent = api.register("author")
    sibling, _ = api.register("sibling", key=author)
    problem = uuid4()
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, decided_at)"
            " VALUES (%s, %s, 'problem', 'Broken bench', 'The bench is broken.', 'h', %s,"
            " CASE WHEN %s = 'pending' THEN NULL ELSE 'layer_b' END,"
            " CASE WHEN %s = 'pending' THEN NULL ELSE now() END)",
            (problem, UUID(agent["id"]), status, status, status))
    stranger, _ = api.register("stranger", kind="human")
    other_agent, _ = api.register("competitor")
    for key in (stranger, other_agent):
        answer = api.get(f"/v1/problems/{problem}/attestations", key=key)
        assert answer.status == 404 and answer.error["code"] == "NOT_FOUND"
    for key in (author, sibling, admin_key()):
        assert api.get(f"/v1/problems/{problem}/attestations", key=key).status == 200
    published = make_problem(api, db)
    assert api.get(f"/v1/problems/{published}/attestations", key=stranger).status == 200


# --- string-length messages (a sweep over every request body of the API) --------------------------

def _string_fields(model: type[BaseModel]) -> list[tuple[str, int | None, int | None]]:
    found = []
    for name, field in model.model_fields.items():
        low = high = None
        for meta in field.metadata:
            low = getattr(meta, "min_length", None) or low
            high = getattr(meta, "max_length", None) or high
        if field.annotation in (str, str | None) and (low or high):
            found.append((name, low, high))
    return found


def test_finding_8_string_length_errors_speak_of_characters_on_every_route() -> None:
    checked = 0
    for spec in ROUTES:
        if spec.body is None:
            continue
        for name, low, high in _string_fields(spec.body):
            for value, kind in (("" if low else None, "too_short"), ("x" * (high + 1) if high else None, "too_long")):
                if value is None:
                    continue
                try:
                    spec.body.model_validate({name: value})
                except ValidationError as exc:
                    mine = [d for d in validation_details(exc)
                            if d["field"] == name and d["type"] in (kind, f"string_{kind}")]
                    assert mine, (spec.path, name, kind)
                    assert "character" in mine[0]["message"] and "item" not in mine[0]["message"], mine
                    checked += 1
    assert checked >= 20


def test_finding_8_an_unknown_dashboard_asset_is_404(api: Api) -> None:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as client:
        missing = client.http.get("/admin/assets/nope.js")
        known = client.http.get("/admin/assets/app.js")
    assert missing.status_code == 404 and json.loads(missing.body)["error"]["code"] == "NOT_FOUND"
    assert known.status_code == 200
