"""The ledger in PostgreSQL: post balanced entries once per idempotency key, rebuild and verify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.errors import InsufficientCredits, NotFound
from chalicelib.domain.ledger import Leg, check_balanced


@dataclass(frozen=True)
class PostedEntry:
    entry_id: int
    idempotency_key: str
    kind: str
    created: bool  # False when the key had been posted before: nothing moved this time


def create_agent_account(conn: Connection, agent_id: Any) -> None:
    conn.execute(
        "INSERT INTO accounts (code, kind, agent_id) VALUES (%s, 'agent', %s) ON CONFLICT DO NOTHING",
        (f"agent:{agent_id}", agent_id),
    )


def post_entry(
    conn: Connection,
    *,
    idempotency_key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: dict[str, Any] | None = None,
) -> PostedEntry:
    """Post one balanced entry inside the caller's transaction, at most once per idempotency key.

    Accounts are locked in id order (no deadlocks between concurrent entries). An agent account that
    would go below zero raises InsufficientCredits and the caller's transaction writes nothing.
    An entry with no legs records an event that moved no money (e.g. a hardship waiver).
    """
    check_balanced(legs)
    row = conn.execute(
        "INSERT INTO journal_entries (idempotency_key, kind, memo) VALUES (%s, %s, %s)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        (idempotency_key, kind, Jsonb(memo or {})),
    ).fetchone()
    if row is None:
        existing = conn.execute(
            "SELECT id, kind FROM journal_entries WHERE idempotency_key = %s", (idempotency_key,)
        ).fetchone()
        assert existing is not None
        return PostedEntry(existing["id"], idempotency_key, existing["kind"], created=False)
    entry_id = int(row["id"])
    if not legs:
        return PostedEntry(entry_id, idempotency_key, kind, created=True)

    codes = [leg.account_code for leg in legs]
    accounts = conn.execute(
        "SELECT id, code, kind, balance FROM accounts WHERE code = ANY(%s) ORDER BY id FOR UPDATE",
        (codes,),
    ).fetchall()
    by_code = {a["code"]: a for a in accounts}
    missing = set(codes) - by_code.keys()
    if missing:
        raise NotFound("account not found", details={"accounts": sorted(missing)})

    leg_rows: list[tuple[int, int, int, int, int]] = []
    for leg in legs:
        account = by_code[leg.account_code]
        before = int(account["balance"])
        after = before + leg.amount
        if account["kind"] == "agent" and after < 0:
            raise InsufficientCredits(
                "not enough credits",
                details={"balance": before, "required": -leg.amount},
            )
        leg_rows.append((entry_id, int(account["id"]), leg.amount, before, after))
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE accounts SET balance = %s WHERE id = %s",
            [(after, account_id) for (_, account_id, _, _, after) in leg_rows],
        )
        cur.executemany(
            "INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)"
            " VALUES (%s, %s, %s, %s, %s)",
            leg_rows,
        )
    return PostedEntry(entry_id, idempotency_key, kind, created=True)


def balance_of(conn: Connection, account_code: str) -> int:
    row = conn.execute("SELECT balance FROM accounts WHERE code = %s", (account_code,)).fetchone()
    if row is None:
        raise NotFound("account not found")
    return int(row["balance"])


def history(
    conn: Connection, account_code: str, *, limit: int, before: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    """Legs of one account, newest first, keyset-paged on (created_at, id)."""
    params: list[Any] = [account_code]
    where = ""
    if before is not None:
        where = " AND (l.created_at, l.id) < (%s, %s::bigint)"
        params += [before[0], before[1]]
    params.append(limit)
    return conn.execute(
        "SELECT l.id, l.amount, l.balance_before, l.balance_after, l.created_at,"
        " e.kind, e.idempotency_key, e.memo"
        " FROM journal_legs l JOIN accounts a ON a.id = l.account_id"
        " JOIN journal_entries e ON e.id = l.entry_id"
        " WHERE a.code = %s" + where + " ORDER BY l.created_at DESC, l.id DESC LIMIT %s",
        params,
    ).fetchall()


def verify(conn: Connection) -> dict[str, Any]:
    """Rebuild every balance from the journal and compare: mismatches must be empty.

    Checks, per account, that the stored balance equals the sum of its legs and that the legs
    chain (each balance_before is the previous balance_after), and that every entry sums to zero.
    """
    mismatches: list[dict[str, Any]] = []
    rows = conn.execute(
        "SELECT a.code, a.balance, COALESCE(SUM(l.amount), 0) AS rebuilt"
        " FROM accounts a LEFT JOIN journal_legs l ON l.account_id = a.id"
        " GROUP BY a.id ORDER BY a.id"
    ).fetchall()
    for r in rows:
        if int(r["balance"]) != int(r["rebuilt"]):
            mismatches.append(
                {"account": r["code"], "stored": int(r["balance"]), "rebuilt": int(r["rebuilt"])}
            )
    broken_chain = conn.execute(
        "SELECT code, leg_id FROM ("
        "  SELECT a.code, l.id AS leg_id, l.balance_before,"
        "         LAG(l.balance_after, 1, 0::bigint) OVER (PARTITION BY l.account_id ORDER BY l.id) AS prev"
        "  FROM journal_legs l JOIN accounts a ON a.id = l.account_id) t"
        " WHERE balance_before <> prev LIMIT 100"
    ).fetchall()
    mismatches += [{"account": r["code"], "leg": int(r["leg_id"]), "problem": "broken chain"}
                   for r in broken_chain]
    unbalanced = conn.execute(
        "SELECT entry_id, SUM(amount) AS total FROM journal_legs GROUP BY entry_id"
        " HAVING SUM(amount) <> 0 LIMIT 100"
    ).fetchall()
    mismatches += [{"entry": int(r["entry_id"]), "sum": int(r["total"]), "problem": "unbalanced"}
                   for r in unbalanced]
    return {"accounts_checked": len(rows), "mismatches": mismatches}
