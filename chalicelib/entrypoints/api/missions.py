"""Mission templates (admin CRUD, public list) and missions created from them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from chalice.app import Blueprint
from pydantic import AwareDatetime, BaseModel, Field

from chalicelib import bootstrap
from chalicelib.domain import hyperlocal
from chalicelib.domain.hyperlocal import Difficulty
from chalicelib.domain.layer_b import Domain
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import (
    Amount,
    Description,
    IdPath,
    Name,
    PageQuery,
    RequestModel,
    SafeText,
    Title,
)
from chalicelib.services import missions as mission_service

bp = Blueprint(__name__)

Step = Annotated[SafeText, Field(min_length=1, max_length=500)]


class CompletionCriteria(RequestModel):
    photo_pairs: Annotated[int, Field(ge=hyperlocal.PHOTO_PAIRS[0], le=hyperlocal.PHOTO_PAIRS[1])]
    gps_check: bool
    min_minutes_between: Annotated[int, Field(ge=0, le=hyperlocal.DURATION_MINUTES[1])]


class MissionTemplateBody(RequestModel):
    name: Name
    description: Description = ""
    domain: Domain
    difficulty: Difficulty
    required_photos: Annotated[int, Field(ge=hyperlocal.REQUIRED_PHOTOS[0], le=hyperlocal.REQUIRED_PHOTOS[1])]
    completion_criteria: CompletionCriteria
    steps: Annotated[list[Step], Field(min_length=1, max_length=hyperlocal.MAX_STEPS)]
    gps_radius_m: Annotated[int, Field(ge=hyperlocal.GPS_RADIUS_M[0], le=hyperlocal.GPS_RADIUS_M[1])]
    duration_minutes: Annotated[int, Field(ge=hyperlocal.DURATION_MINUTES[0], le=hyperlocal.DURATION_MINUTES[1])]

    def draft(self) -> mission_service.TemplateDraft:
        return mission_service.TemplateDraft(
            name=self.name, description=self.description, domain=self.domain, difficulty=self.difficulty,
            required_photos=self.required_photos, photo_pairs=self.completion_criteria.photo_pairs,
            gps_check=self.completion_criteria.gps_check,
            min_minutes_between=self.completion_criteria.min_minutes_between, steps=tuple(self.steps),
            gps_radius_m=self.gps_radius_m, duration_minutes=self.duration_minutes,
        )


class CompletionCriteriaOut(BaseModel):
    photo_pairs: int
    gps_check: bool
    min_minutes_between: int


class MissionTemplateOut(BaseModel):
    id: UUID
    name: str
    description: str
    domain: str
    difficulty: str
    required_photos: int
    completion_criteria: CompletionCriteriaOut
    steps: list[str]
    gps_radius_m: int
    duration_minutes: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class TemplateListQuery(PageQuery):
    domain: Domain | None = None


class AdminTemplateListQuery(TemplateListQuery):
    include_deleted: bool = False


class GeoPoint(RequestModel):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]


class CreateMission(RequestModel):
    template_id: UUID
    location: GeoPoint
    title: Title | None = None
    reward_millicredits: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    problem_id: UUID | None = None
    expires_at: AwareDatetime | None = None


class GeoPointOut(BaseModel):
    latitude: float
    longitude: float


class MissionOut(BaseModel):
    id: UUID
    template_id: UUID
    template: dict[str, Any]
    title: str
    location: GeoPointOut
    problem_id: UUID | None
    reward: Amount
    status: str
    expired: bool
    expires_at: datetime
    created_at: datetime


def template_out(row: dict[str, Any]) -> MissionTemplateOut:
    return MissionTemplateOut(
        id=row["id"], name=row["name"], description=row["description"], domain=row["domain"],
        difficulty=row["difficulty"], required_photos=row["required_photos"],
        completion_criteria=CompletionCriteriaOut(photo_pairs=row["photo_pairs"], gps_check=row["gps_check"],
                                                  min_minutes_between=row["min_minutes_between"]),
        steps=list(row["steps"]), gps_radius_m=row["gps_radius_m"], duration_minutes=row["duration_minutes"],
        created_at=row["created_at"], updated_at=row["updated_at"], deleted_at=row["deleted_at"],
    )


def mission_out(row: dict[str, Any]) -> MissionOut:
    return MissionOut(
        id=row["id"], template_id=row["template_id"], template=row["template"], title=row["title"],
        location=GeoPointOut(latitude=row["latitude"], longitude=row["longitude"]), problem_id=row["problem_id"],
        reward=Amount.of(row["reward_millicredits"]), status=row["status"],
        expired=row["expires_at"] <= datetime.now(UTC), expires_at=row["expires_at"], created_at=row["created_at"],
    )


def _page(rows: list[dict[str, Any]], limit: int) -> Reply:
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([template_out(r) for r in page], meta={"next_cursor": next_cursor, "limit": limit})


# --- public ----------------------------------------------------------------------------------------


@api_route(bp, "GET", "/v1/mission-templates", summary="Active mission templates, newest first",
           auth="public", tag="missions", query=TemplateListQuery, response=MissionTemplateOut, is_list=True,
           public_rate_limit=120)
def list_public(ctx: RequestContext) -> Reply:
    q: TemplateListQuery = ctx.query
    before = decode_cursor(q.cursor) if q.cursor else None
    return _page(mission_service.list_templates(bootstrap.unit_of_work(), limit=q.limit + 1, before=before,
                                                domain=q.domain), q.limit)


@api_route(bp, "POST", "/v1/missions", summary="Create a mission from a template (agents and admins)",
           auth="any", tag="missions", body=CreateMission, response=MissionOut, status=201, errors=(404, 409))
def create_mission(ctx: RequestContext) -> Reply:
    body: CreateMission = ctx.body
    row = mission_service.create_mission(bootstrap.unit_of_work(), ctx.caller, mission_service.MissionDraft(
        template_id=body.template_id, latitude=body.location.latitude, longitude=body.location.longitude,
        reward_millicredits=body.reward_millicredits, title=body.title, problem_id=body.problem_id,
        expires_at=body.expires_at,
    ))
    return Reply(mission_out(row), status=201)


@api_route(bp, "GET", "/v1/missions/{id}", summary="A mission with its template snapshot", auth="any",
           tag="missions", path_params=IdPath, response=MissionOut, errors=(404,))
def get_mission(ctx: RequestContext) -> MissionOut:
    return mission_out(mission_service.get_mission(bootstrap.unit_of_work(), ctx.path.id))


# --- admin -----------------------------------------------------------------------------------------

ADMIN_TAG = "admin: mission templates"


@api_route(bp, "GET", "/v1/admin/mission-templates", summary="Mission templates, deleted ones on request",
           auth="admin", tag=ADMIN_TAG, query=AdminTemplateListQuery, response=MissionTemplateOut, is_list=True)
def admin_list(ctx: RequestContext) -> Reply:
    q: AdminTemplateListQuery = ctx.query
    before = decode_cursor(q.cursor) if q.cursor else None
    rows = mission_service.list_templates(bootstrap.unit_of_work(), limit=q.limit + 1, before=before,
                                          include_deleted=q.include_deleted,
                                          domain=q.domain)
    return _page(rows, q.limit)


@api_route(bp, "POST", "/v1/admin/mission-templates", summary="Create a mission template", auth="admin",
           tag=ADMIN_TAG, body=MissionTemplateBody, response=MissionTemplateOut, status=201, errors=(409,))
def admin_create(ctx: RequestContext) -> Reply:
    body: MissionTemplateBody = ctx.body
    return Reply(template_out(mission_service.create_template(bootstrap.unit_of_work(), ctx.caller, body.draft())),
                 status=201)


@api_route(bp, "GET", "/v1/admin/mission-templates/{id}", summary="A mission template (deleted ones too)",
           auth="admin", tag=ADMIN_TAG, path_params=IdPath, response=MissionTemplateOut, errors=(404,))
def admin_get(ctx: RequestContext) -> MissionTemplateOut:
    return template_out(mission_service.get_template(bootstrap.unit_of_work(), ctx.path.id, include_deleted=True))


@api_route(bp, "PUT", "/v1/admin/mission-templates/{id}", summary="Replace a mission template's fields",
           auth="admin", tag=ADMIN_TAG, path_params=IdPath, body=MissionTemplateBody, response=MissionTemplateOut,
           errors=(404, 409))
def admin_update(ctx: RequestContext) -> MissionTemplateOut:
    body: MissionTemplateBody = ctx.body
    return template_out(mission_service.update_template(bootstrap.unit_of_work(), ctx.caller, ctx.path.id,
                                                        body.draft()))


@api_route(bp, "DELETE", "/v1/admin/mission-templates/{id}", summary="Soft-delete a mission template",
           auth="admin", tag=ADMIN_TAG, path_params=IdPath, errors=(404,))
def admin_delete(ctx: RequestContext) -> Reply:
    mission_service.delete_template(bootstrap.unit_of_work(), ctx.caller, ctx.path.id)
    return Reply(None, status=200)
