"""Use cases of mission templates (admin CRUD, public list) and of missions created from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from chalicelib.domain import hyperlocal
from chalicelib.domain.errors import Conflict, Duplicate, Forbidden, NotFound
from chalicelib.domain.principal import Principal
from chalicelib.services.unit_of_work import UniqueViolation, UnitOfWork


@dataclass(frozen=True)
class TemplateDraft:
    """Every field of a template (the API has checked each field's range)."""

    name: str
    description: str
    domain: str
    difficulty: str
    required_photos: int
    photo_pairs: int
    gps_check: bool
    min_minutes_between: int
    steps: tuple[str, ...]
    gps_radius_m: int
    duration_minutes: int


def _checked(draft: TemplateDraft) -> dict[str, Any]:
    hyperlocal.check_template(
        required_photos=draft.required_photos, photo_pairs=draft.photo_pairs,
        min_minutes_between=draft.min_minutes_between, duration_minutes=draft.duration_minutes,
    )
    return asdict(draft)


def _duplicate_name(name: str) -> Duplicate:
    return Duplicate("an active mission template already has this name", details={"name": name})


def create_template(uow: UnitOfWork, admin: Principal, draft: TemplateDraft) -> dict[str, Any]:
    """A new template; 409 DUPLICATE when an active template has the same name (any case)."""
    values = _checked(draft)
    try:
        with uow:
            return uow.hyperlocal.insert_template(values, actor=admin.actor)
    except UniqueViolation:
        raise _duplicate_name(draft.name) from None


def update_template(uow: UnitOfWork, admin: Principal, template_id: UUID, draft: TemplateDraft) -> dict[str, Any]:
    """Replace a template's fields. Missions created earlier keep their snapshot."""
    values = _checked(draft)
    try:
        with uow:
            row = uow.hyperlocal.update_template(template_id, values, actor=admin.actor,
                                                  now=datetime.now(UTC))
    except UniqueViolation:
        raise _duplicate_name(draft.name) from None
    if row is None:
        raise NotFound("mission template not found")
    return row


def delete_template(uow: UnitOfWork, admin: Principal, template_id: UUID) -> None:
    """Soft delete: the template leaves the lists and frees its name; missions keep their snapshot."""
    with uow:
        if not uow.hyperlocal.soft_delete_template(template_id, actor=admin.actor, now=datetime.now(UTC)):
            raise NotFound("mission template not found")


def get_template(uow: UnitOfWork, template_id: UUID, *, include_deleted: bool = False) -> dict[str, Any]:
    with uow:
        row = uow.hyperlocal.get_template(template_id, include_deleted=include_deleted)
    if row is None:
        raise NotFound("mission template not found")
    return row


def list_templates(uow: UnitOfWork, *, limit: int, before: tuple[datetime, str] | None, include_deleted: bool = False,
                   domain: str | None = None) -> list[dict[str, Any]]:
    with uow:
        return uow.hyperlocal.list_templates(limit=limit, before=before, include_deleted=include_deleted,
                                              domain=domain)


# --- missions ------------------------------------------------------------------------------------

SNAPSHOT_FIELDS = ("id", "name", "description", "domain", "difficulty", "required_photos", "photo_pairs",
                   "gps_check", "min_minutes_between", "steps", "gps_radius_m", "duration_minutes", "updated_at")


@dataclass(frozen=True)
class MissionDraft:
    template_id: UUID
    latitude: float
    longitude: float
    reward_millicredits: int
    title: str | None = None
    problem_id: UUID | None = None
    expires_at: datetime | None = None


def snapshot(template: dict[str, Any]) -> dict[str, Any]:
    """The template as the mission keeps it: later edits or deletion of the template change nothing."""
    out = {f: template[f] for f in SNAPSHOT_FIELDS}
    out["id"] = str(out["id"])
    out["updated_at"] = template["updated_at"].isoformat()
    return out


def create_mission(uow: UnitOfWork, caller: Principal, draft: MissionDraft, *,
                   now: datetime | None = None) -> dict[str, Any]:
    """A mission from an active template: its snapshot, a location, an expiry (30 days by default)
    and a reward in millicredits. Agents and admins create missions; humans carry them out."""
    if caller.role == "human":
        raise Forbidden("humans carry out missions; agents and admins create them")
    now = now or datetime.now(UTC)
    expires_at = hyperlocal.mission_expiry(now, draft.expires_at)
    with uow:
        template = uow.hyperlocal.get_template(draft.template_id)
        if template is None:
            raise NotFound("mission template not found", details={"template_id": str(draft.template_id)})
        if draft.problem_id is not None:
            problem = uow.hyperlocal.get_problem(draft.problem_id)
            if problem is None:
                raise NotFound("problem not found", details={"problem_id": str(draft.problem_id)})
            if problem["status"] == "rejected":
                raise Conflict("a rejected problem takes no missions")
        return uow.hyperlocal.insert_mission({
            "id": uuid4(),
            "template_id": template["id"],
            "template": snapshot(template),
            "title": draft.title or template["name"],
            "latitude": draft.latitude,
            "longitude": draft.longitude,
            "problem_id": draft.problem_id,
            "reward_millicredits": draft.reward_millicredits,
            "created_by": caller.actor,
            "creator_agent_id": caller.agent_id,
            "expires_at": expires_at,
            "created_at": now,
        })


def get_mission(uow: UnitOfWork, mission_id: UUID) -> dict[str, Any]:
    with uow:
        row = uow.hyperlocal.get_mission(mission_id)
    if row is None:
        raise NotFound("mission not found")
    return row


def pair_criteria(mission: dict[str, Any]) -> hyperlocal.PairCriteria:
    """The pair rules of a mission, from its template snapshot."""
    template = mission["template"]
    return hyperlocal.PairCriteria(
        min_minutes_between=int(template["min_minutes_between"]),
        gps_radius_m=int(template["gps_radius_m"]),
        gps_check=bool(template["gps_check"]),
        site_latitude=float(mission["latitude"]),
        site_longitude=float(mission["longitude"]),
    )
