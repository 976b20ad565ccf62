"""Operators: economic health (latest snapshot, a fresh computation, history) and ledger verification."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from chalice.app import Blueprint
from pydantic import Field

from chalicelib import bootstrap
from chalicelib.entrypoints.api.framework import RequestContext, api_route
from chalicelib.entrypoints.api.models import Amount, ApiModel, ParamsModel
from chalicelib.services import credits as credit_service
from chalicelib.services import economy as economy_service

bp = Blueprint(__name__)
TAG = "admin: economy"


class EconomyAlertOut(ApiModel):
    rule: str
    severity: Literal["warning", "critical"]
    title: str


class EconomyFigures(ApiModel):
    """One window of the economy. ratio = faucet / sink (4 places); null when sink is 0, and then
    ratio_state says why: 'no_sink' (the faucet paid, nothing was sunk) or 'idle' (nothing moved)."""

    window_start: datetime
    window_end: datetime
    faucet: Amount
    starter_grants: Amount
    sink: Amount
    ratio: float | None
    ratio_state: Literal["defined", "no_sink", "idle"]
    active_agents: int
    agents_total: int
    hardship_agents: int
    hardship_rate: float
    median_balance: Amount
    circulating: Amount
    total_validators: int
    alerts: list[EconomyAlertOut]

    @classmethod
    def of(cls, row: dict[str, Any]) -> EconomyFigures:
        def number(value: Decimal | None) -> float | None:
            return None if value is None else float(value)

        return cls(
            window_start=row["window_start"], window_end=row["window_end"],
            faucet=Amount.of(row["faucet"]), starter_grants=Amount.of(row["starter_grants"]),
            sink=Amount.of(row["sink"]), ratio=number(row["ratio"]), ratio_state=row["ratio_state"],
            active_agents=row["active_agents"], agents_total=row["agents_total"],
            hardship_agents=row["hardship_agents"], hardship_rate=float(row["hardship_rate"]),
            median_balance=Amount.of(row["median_balance"]), circulating=Amount.of(row["circulating"]),
            total_validators=row["total_validators"],
            alerts=[EconomyAlertOut.model_validate(a) for a in row["alerts"]],
        )


class EconomySnapshotOut(EconomyFigures):
    id: int
    created_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> EconomySnapshotOut:
        return cls(**EconomyFigures.of(row).model_dump(), id=row["id"], created_at=row["created_at"])


class EconomyOut(ApiModel):
    latest: EconomySnapshotOut | None
    current: EconomyFigures
    history: list[EconomySnapshotOut]


class EconomyQuery(ParamsModel):
    window_hours: Annotated[int, Field(ge=1, le=720)] = 24
    days: Annotated[int, Field(ge=0, le=90)] = 7


class VerificationPass(ApiModel):
    id: int
    upto_leg_id: int
    finished_at: datetime
    mismatches: int


class LedgerVerification(ApiModel):
    accounts_checked: int
    mismatches: list[dict[str, Any]]
    legs_checked: int = 0
    # complete: every account's balance was checked (from a checkpoint, or the whole journal);
    # otherwise only the chain of the latest legs (no full pass has run yet).
    complete: bool = True
    scope: Literal["since_checkpoint", "whole_journal", "recent_legs"] = "whole_journal"
    checkpoint: VerificationPass | None = None
    latest_full_pass: VerificationPass | None = None


@api_route(bp, "GET", "/v1/admin/economy",
           summary="Economic health: latest hourly snapshot, a fresh computation and the history",
           auth="admin", tag=TAG, query=EconomyQuery, response=EconomyOut)
def economy(ctx: RequestContext) -> EconomyOut:
    q: EconomyQuery = ctx.query
    overview = economy_service.economy_overview(bootstrap.unit_of_work(), window_hours=q.window_hours, days=q.days)
    latest = overview["latest"]
    return EconomyOut(
        latest=EconomySnapshotOut.of(latest) if latest else None,
        current=EconomyFigures.of(overview["current"]),
        history=[EconomySnapshotOut.of(r) for r in overview["history"]],
    )


@api_route(bp, "GET", "/v1/admin/ledger/verify",
           summary="Verify the ledger from the latest full pass's checkpoint through the legs since",
           auth="admin", tag=TAG,
           response=LedgerVerification)
def verify_ledger(ctx: RequestContext) -> LedgerVerification:
    return LedgerVerification.model_validate(credit_service.verify_ledger(bootstrap.unit_of_work()))
