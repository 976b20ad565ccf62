"""Use cases of reading credits: balance and keyset-paged history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.adapters import ledger_repo
from chalicelib.db.pool import transaction
from chalicelib.domain.ledger import agent_account


def balance_and_history(
    agent_id: UUID, *, limit: int, before: tuple[datetime, str] | None
) -> tuple[int, list[dict[str, Any]]]:
    """The balance and one page (newest first, `limit` rows at most) of the agent's movements,
    hardship waivers included (amount 0)."""
    account = agent_account(agent_id)
    with transaction() as conn:
        balance = ledger_repo.balance_of(conn, account)
        rows = ledger_repo.history(conn, account, limit=limit, before=before, agent_id=str(agent_id))
    return balance, rows


def verify_ledger() -> dict[str, Any]:
    """Rebuild every balance from the journal; `mismatches` is empty when the books are right."""
    with transaction() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return ledger_repo.verify(conn)
