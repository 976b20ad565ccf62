"""Use cases of reading credits: balance and keyset-paged history, and verifying the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.domain import alert_rules, ledger
from chalicelib.domain.ledger import agent_account
from chalicelib.observability import logger
from chalicelib.services.unit_of_work import UnitOfWork

VERIFY_ACTOR = "ledger-verify"


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


def verify_ledger(uow: UnitOfWork, *, batch_legs: int = ledger.VERIFY_BATCH_LEGS) -> dict[str, Any]:
    """Verify the ledger within an API's time budget: from the latest clean full pass (its
    checkpoint: every account's total at one leg) through the legs written since, in batches - the
    chain of every new leg, the entries they belong to, and every account's stored balance against
    checkpoint + tail. `mismatches` is empty when the books are right; the latest full pass's own
    findings are repeated while no clean pass followed it. Without any checkpoint, the chain of the
    latest legs only (`complete` false).
    """
    with uow:
        uow.repeatable_read()  # one view of balances and legs
        checkpoint = uow.ledger.latest_checkpoint()
        latest = uow.ledger.latest_verification()
        last = uow.ledger.last_leg_id()
        after = int(checkpoint["upto_leg_id"]) if checkpoint is not None else max(0, last - ledger.VERIFY_RECENT_LEGS)
        complete = checkpoint is not None or after == 0
        uow.ledger.begin_verification(None if checkpoint is None else int(checkpoint["id"]))
        legs, problems = _verify_batches(uow, after, last, batch_legs, from_origin=complete)
        mismatches: list[dict[str, Any]] = []
        accounts = 0
        if complete:
            balances = uow.ledger.verification_balances()
            accounts, mismatches = balances["accounts"], balances["mismatches"]
        mismatches += problems + uow.ledger.unbalanced_entries()
        uow.ledger.end_verification()
        if latest is not None and latest["mismatches"] and (checkpoint is None or latest["id"] > checkpoint["id"]):
            mismatches += [{**m, "found_by_full_pass": int(latest["id"])} for m in latest["mismatches"]]
    return {
        "accounts_checked": accounts, "legs_checked": legs, "complete": complete,
        "scope": "since_checkpoint" if checkpoint is not None else "whole_journal" if complete else "recent_legs",
        "checkpoint": None if checkpoint is None else _pass_summary(checkpoint),
        "latest_full_pass": None if latest is None else _pass_summary(latest),
        "mismatches": mismatches[:ledger.MAX_REPORTED_MISMATCHES],
    }


def verify_ledger_full(
    uow: UnitOfWork, *, now: datetime | None = None, batch_legs: int = ledger.VERIFY_BATCH_LEGS,
) -> dict[str, Any]:
    """The whole journal, batch by batch in one snapshot (the nightly `ledger_verify` job and
    `python -m local verify-ledger --full`): every leg's chain and arithmetic, every entry's sum,
    every account's stored balance. Stores the pass (with a checkpoint at the last settled leg when
    clean, where the API's verification starts), raises the critical `ledger_mismatch` alert when
    anything is wrong and resolves it when a later pass is clean. Concurrent passes wait for each
    other (advisory lock) and both succeed."""
    now = now or uow.clock.now()
    with uow:
        uow.repeatable_read()
        uow.ledger.lock_full_verification()
        upto = uow.ledger.last_leg_id(before=now - ledger.VERIFY_SETTLE)
        last = uow.ledger.last_leg_id()
        uow.ledger.begin_verification()
        legs, problems = _verify_batches(uow, 0, upto, batch_legs, from_origin=True)
        run_id = uow.ledger.start_verification_run(upto_leg_id=upto, started_at=now)
        tail_legs, tail_problems = _verify_batches(uow, upto, last, batch_legs, from_origin=True)
        balances = uow.ledger.verification_balances()
        mismatches = (balances["mismatches"] + problems + tail_problems
                      + uow.ledger.unbalanced_entries())[:ledger.MAX_REPORTED_MISMATCHES]
        uow.ledger.end_verification()
        batches = len(ledger.verify_batches(0, upto, batch_legs)) + len(ledger.verify_batches(upto, last, batch_legs))
        uow.ledger.finish_verification_run(run_id, accounts=balances["accounts"], legs=legs + tail_legs,
                                           batches=batches, mismatches=mismatches)
    # The alert in a transaction of its own (read committed): the pass's snapshot may predate a
    # concurrent pass's alert, and updating that row from the snapshot would fail to serialize.
    check = alert_rules.ledger_mismatch(mismatches, balances["accounts"], legs + tail_legs)
    with uow:
        if check.finding is not None:
            f = check.finding
            uow.alerts.raise_alert(rule=f.rule, severity=f.severity, title=f.title,
                                   details={**f.details, "verification_id": run_id}, dedup_key=f.dedup_key,
                                   tier=f.tier, now=now)
        else:
            uow.alerts.resolve_keys(list(check.subjects), actor=VERIFY_ACTOR, now=now)
        pruned = uow.ledger.prune_verifications()
    if mismatches:
        logger.error("ledger verification found problems", extra={"count": len(mismatches), "run": run_id})
    return {"verification_id": run_id, "upto_leg_id": upto, "legs_checked": legs + tail_legs,
            "accounts_checked": balances["accounts"], "batches": batches, "mismatches": mismatches,
            "pruned": pruned}


def _verify_batches(
    uow: UnitOfWork, after: int, upto: int, size: int, *, from_origin: bool,
) -> tuple[int, list[dict[str, Any]]]:
    legs = 0
    problems: list[dict[str, Any]] = []
    for lo, hi in ledger.verify_batches(after, upto, size):
        batch = uow.ledger.verify_batch(lo, hi, from_origin=from_origin)
        legs += batch["legs"]
        problems += batch["problems"]
    return legs, problems[:ledger.MAX_REPORTED_MISMATCHES]


def _pass_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(run["id"]), "upto_leg_id": int(run["upto_leg_id"]), "finished_at": run["finished_at"],
            "mismatches": len(run["mismatches"])}
