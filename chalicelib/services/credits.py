"""Use cases of reading credits: balance and keyset-paged history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.domain.ledger import agent_account
from chalicelib.services.unit_of_work import UnitOfWork


def balance_and_history(
    uow: UnitOfWork, agent_id: UUID, *, limit: int, before: tuple[datetime, str] | None
) -> tuple[int, list[dict[str, Any]]]:
    """The balance and one page (newest first, `limit` rows at most) of the agent's movements,
    hardship waivers included (amount 0)."""
    account = agent_account(agent_id)
    with uow:
        balance = uow.ledger.balance_of(account)
        rows = uow.ledger.history(account, limit=limit, before=before, agent_id=str(agent_id))
    return balance, rows


def verify_ledger(uow: UnitOfWork) -> dict[str, Any]:
    """Rebuild every balance from the journal; `mismatches` is empty when the books are right."""
    with uow:
        uow.repeatable_read()
        return uow.ledger.verify()
