"""Credits: balance and history of the calling agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel

from chalicelib import bootstrap
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import Amount, PageQuery
from chalicelib.services import credits as credit_service

bp = Blueprint(__name__)


class LedgerLine(BaseModel):
    id: int
    kind: str
    amount: Amount
    balance_before: Amount
    balance_after: Amount
    reference: str
    memo: dict[str, Any]
    created_at: datetime


class CreditsOut(BaseModel):
    balance: Amount
    history: list[LedgerLine]
    next_cursor: str | None


@api_route(bp, "GET", "/v1/credits", summary="Your balance and movements, newest first", auth="member",
           tag="credits", query=PageQuery, response=CreditsOut)
def credits(ctx: RequestContext) -> Reply:
    q: PageQuery = ctx.query
    assert ctx.caller.agent_id is not None
    before = decode_cursor(q.cursor, id_kind="signed_int") if q.cursor else None
    balance, rows = credit_service.balance_and_history(bootstrap.unit_of_work(), ctx.caller.agent_id,
                                                       limit=q.limit + 1, before=before)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    lines = [
        LedgerLine(
            id=r["id"], kind=r["kind"], amount=Amount.of(r["amount"]),
            balance_before=Amount.of(r["balance_before"]), balance_after=Amount.of(r["balance_after"]),
            reference=r["idempotency_key"], memo=r["memo"], created_at=r["created_at"],
        )
        for r in page
    ]
    return Reply(CreditsOut(balance=Amount.of(balance), history=lines, next_cursor=next_cursor),
                 meta={"next_cursor": next_cursor, "limit": q.limit})
