"""Mission templates (admin CRUD, public list, soft delete, unique active names, ranges) and missions
created from them (a snapshot of the template, a location, an expiry, a reward)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support import Api, admin_key, api_client

TEMPLATE: dict[str, Any] = {
    "name": "Litter pick on a riverbank",
    "description": "Clear a stretch of riverbank of litter and photograph it before and after.",
    "domain": "environmental_protection",
    "difficulty": "easy",
    "required_photos": 2,
    "completion_criteria": {"photo_pairs": 1, "gps_check": True, "min_minutes_between": 30},
    "steps": ["Photograph the stretch before you start", "Collect and bag the litter",
              "Photograph the same stretch from the same spot"],
    "gps_radius_m": 100,
    "duration_minutes": 120,
}


@pytest.fixture
def api(db: str):
    with api_client() as client:
        yield client


@pytest.fixture
def admin(api: Api) -> str:
    return admin_key()


def create_template(api: Api, admin: str, **changes: Any) -> dict[str, Any]:
    answer = api.post("/v1/admin/mission-templates", key=admin, body={**TEMPLATE, **changes})
    assert answer.status == 201, answer.body
    return dict(answer.data)


def test_an_admin_creates_a_template_that_everyone_can_list(api: Api, admin: str) -> None:
    created = create_template(api, admin)
    assert created["completion_criteria"] == TEMPLATE["completion_criteria"]
    assert created["steps"] == TEMPLATE["steps"] and created["deleted_at"] is None
    listed = api.get("/v1/mission-templates", headers={"Content-Type": "application/json"})
    assert listed.status == 200
    assert [t["id"] for t in listed.data] == [created["id"]]
    assert api.get(f"/v1/admin/mission-templates/{created['id']}", key=admin).data == created


def test_only_admins_manage_templates(api: Api, admin: str) -> None:
    agent_key, _ = api.register("planner")
    human_key, _ = api.register("walker", kind="human")
    for key in (agent_key, human_key):
        assert api.post("/v1/admin/mission-templates", key=key, body=TEMPLATE).status == 403
        assert api.get("/v1/admin/mission-templates", key=key).status == 403
    assert api.post("/v1/admin/mission-templates", body=TEMPLATE).status == 401


def test_active_names_are_unique_ignoring_case_and_a_deleted_name_is_free_again(api: Api, admin: str) -> None:
    first = create_template(api, admin)
    clash = api.post("/v1/admin/mission-templates", key=admin, body={**TEMPLATE, "name": TEMPLATE["name"].upper()})
    assert clash.status == 409 and clash.error["code"] == "DUPLICATE"

    assert api.delete(f"/v1/admin/mission-templates/{first['id']}", key=admin).status == 200
    second = create_template(api, admin)
    assert second["id"] != first["id"]
    # Renaming another template onto an active name is refused too.
    other = create_template(api, admin, name="Tree planting")
    renamed = api.put(f"/v1/admin/mission-templates/{other['id']}", key=admin, body=TEMPLATE)
    assert renamed.status == 409 and renamed.error["code"] == "DUPLICATE"


def test_soft_delete_hides_a_template_but_keeps_it_for_admins_and_missions(api: Api, admin: str, db: str) -> None:
    template = create_template(api, admin)
    agent_key, _ = api.register("planner")
    mission = api.post("/v1/missions", key=agent_key, body={
        "template_id": template["id"], "location": {"latitude": 51.5, "longitude": -0.12}}).data

    assert api.delete(f"/v1/admin/mission-templates/{template['id']}", key=admin).status == 200
    assert api.delete(f"/v1/admin/mission-templates/{template['id']}", key=admin).status == 404
    assert api.get("/v1/mission-templates").data == []
    assert api.get("/v1/admin/mission-templates", key=admin).data == []
    everything = api.get("/v1/admin/mission-templates?include_deleted=true", key=admin).data
    assert [t["id"] for t in everything] == [template["id"]] and everything[0]["deleted_at"] is not None
    assert api.get(f"/v1/admin/mission-templates/{template['id']}", key=admin).data["deleted_at"] is not None
    assert api.put(f"/v1/admin/mission-templates/{template['id']}", key=admin, body=TEMPLATE).status == 404
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM mission_templates").fetchone() == (1,)
    # The mission still reads, with its snapshot; new missions cannot use the template.
    assert api.get(f"/v1/missions/{mission['id']}", key=agent_key).data["template"]["name"] == TEMPLATE["name"]
    again = api.post("/v1/missions", key=agent_key, body={
        "template_id": template["id"], "location": {"latitude": 51.5, "longitude": -0.12}})
    assert again.status == 404


def with_field(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(TEMPLATE)
    target = body
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("gps_radius_m", 9), ("gps_radius_m", 5001), ("duration_minutes", 4), ("duration_minutes", 481),
        ("required_photos", 0), ("required_photos", 21), ("steps", []), ("steps", ["ok", ""]),
        ("domain", "astrology"), ("difficulty", "heroic"), ("name", ""), ("name", "x" * 101),
        ("completion_criteria.photo_pairs", -1), ("completion_criteria.min_minutes_between", -1),
        ("completion_criteria.gps_check", "yes"), ("gps_radius_m", 50.5), ("gps_radius_m", "100"),
        # Across fields: two pairs need four photos; the minimum gap must fit in the mission's duration.
        ("completion_criteria.photo_pairs", 2), ("completion_criteria.min_minutes_between", 121),
    ],
)
def test_template_fields_out_of_range_are_400_and_write_nothing(api: Api, admin: str, db: str, path: str,
                                                                 value: Any) -> None:
    answer = api.post("/v1/admin/mission-templates", key=admin, body=with_field(path, value))
    assert answer.status == 400, answer.body
    assert answer.error["code"] == "VALIDATION_ERROR"
    assert any(d["field"].startswith(path) for d in answer.error["details"]), answer.error
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM mission_templates").fetchone() == (0,)


@pytest.mark.parametrize(("path", "value"), [("gps_radius_m", 10), ("gps_radius_m", 5000),
                                             ("duration_minutes", 5), ("duration_minutes", 480)])
def test_the_range_boundaries_are_accepted(api: Api, admin: str, path: str, value: int) -> None:
    body = with_field(path, value)
    body["completion_criteria"]["min_minutes_between"] = 0
    assert api.post("/v1/admin/mission-templates", key=admin, body=body).status == 201


def test_public_list_pages_with_a_cursor_and_filters_by_domain(api: Api, admin: str) -> None:
    ids = [create_template(api, admin, name=f"Template {i}")["id"] for i in range(5)]
    create_template(api, admin, name="Reading club", domain="education_access")
    seen: list[str] = []
    cursor = None
    while True:
        answer = api.get("/v1/mission-templates?limit=2&domain=environmental_protection"
                         + (f"&cursor={cursor}" if cursor else ""))
        seen += [t["id"] for t in answer.data]
        cursor = answer.body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_a_mission_snapshots_its_template_and_expires_in_thirty_days(api: Api, admin: str) -> None:
    template = create_template(api, admin)
    agent_key, _ = api.register("planner")
    before = datetime.now(UTC)
    answer = api.post("/v1/missions", key=agent_key, body={
        "template_id": template["id"], "location": {"latitude": 45.4642, "longitude": 9.19},
        "reward_millicredits": 2500,
    })
    assert answer.status == 201, answer.body
    mission = answer.data
    assert mission["title"] == TEMPLATE["name"]
    assert mission["reward"] == {"credits": "2.500", "millicredits": 2500}
    expires = datetime.fromisoformat(mission["expires_at"])
    assert before + timedelta(days=30) <= expires <= datetime.now(UTC) + timedelta(days=30)
    assert mission["template"]["gps_radius_m"] == 100 and mission["expired"] is False

    changed = {**TEMPLATE, "gps_radius_m": 2000, "steps": ["Just do it"]}
    assert api.put(f"/v1/admin/mission-templates/{template['id']}", key=admin, body=changed).status == 200
    again = api.get(f"/v1/missions/{mission['id']}", key=agent_key).data
    assert again["template"]["gps_radius_m"] == 100 and again["template"]["steps"] == TEMPLATE["steps"]
    later = api.post("/v1/missions", key=agent_key, body={
        "template_id": template["id"], "location": {"latitude": 45.4642, "longitude": 9.19}}).data
    assert later["template"]["gps_radius_m"] == 2000


def test_humans_do_not_create_missions_and_bad_missions_are_refused(api: Api, admin: str) -> None:
    template = create_template(api, admin)
    human_key, _ = api.register("walker", kind="human")
    body = {"template_id": template["id"], "location": {"latitude": 45.0, "longitude": 9.0}}
    assert api.post("/v1/missions", key=human_key, body=body).status == 403
    assert api.post("/v1/missions", key=admin, body=body).status == 201
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert api.post("/v1/missions", key=admin, body={**body, "expires_at": past}).status == 400
    off_the_map = {**body, "location": {"latitude": 91, "longitude": 0}}
    assert api.post("/v1/missions", key=admin, body=off_the_map).status == 400
    assert api.post("/v1/missions", key=admin, body={**body, "reward_millicredits": -1}).status == 400
    missing = {**body, "template_id": "00000000-0000-4000-8000-000000000000"}
    assert api.post("/v1/missions", key=admin, body=missing).status == 404
    assert api.get("/v1/missions/00000000-0000-4000-8000-000000000000", key=admin).status == 404
