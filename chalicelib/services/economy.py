"""Use cases of the credit economy that run inside other use cases' transactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters import flags_repo, ledger_repo
from chalicelib.adapters.agents_repo import Principal
from chalicelib.db.pool import Connection
from chalicelib.domain import economy
from chalicelib.domain.ledger import SINK, agent_account, transfer


def charge_submission(conn: Connection, principal: Principal, submission: dict[str, Any], now: datetime) -> int:
    """Charge the submission's cost in the caller's transaction; returns the millicredits charged.

    Nothing is charged while SUBMISSION_COSTS_ENABLED is off. An agent in hardship (balance below
    10 credits) submits free and the journal records the waiver. Too little balance otherwise raises
    InsufficientCredits and the whole submission rolls back.
    """
    flags = flags_repo.current(conn)
    if not flags["SUBMISSION_COSTS_ENABLED"]:
        return 0
    account = agent_account(principal.agent_id)
    cost = economy.submission_cost(submission["kind"], float(flags["SUBMISSION_COST_MULTIPLIER"]))
    key = f"submission:{submission['id']}"
    balance = ledger_repo.balance_of(conn, account)
    if economy.in_hardship(balance):
        ledger_repo.post_entry(
            conn, idempotency_key=key, kind="hardship_waiver", legs=[],
            memo={"submission_id": str(submission["id"]), "waived": cost, "balance": balance},
        )
        return 0
    ledger_repo.post_entry(
        conn, idempotency_key=key, kind="submission_fee", legs=transfer(account, SINK, cost),
        memo={"submission_id": str(submission["id"]), "kind": submission["kind"]},
    )
    conn.execute("UPDATE submissions SET cost_millicredits = %s WHERE id = %s", (cost, submission["id"]))
    submission["cost_millicredits"] = cost
    return cost
