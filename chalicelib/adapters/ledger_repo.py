"""The ledger in PostgreSQL: post balanced entries once per idempotency key, read balances and history.
Verification is in `ledger_verification`, re-exported here: the unit of work binds one `ledger` module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.adapters.ledger_verification import (  # re-exported: the `ledger` repository is this module
    begin_verification,
    end_verification,
    finish_verification_run,
    last_leg_id,
    latest_checkpoint,
    latest_verification,
    lock_full_verification,
    prune_verifications,
    start_verification_run,
    unbalanced_entries,
    verification_balances,
    verify,
    verify_batch,
)
from chalicelib.db.pool import Connection
from chalicelib.domain.errors import InsufficientCredits, NotFound
from chalicelib.domain.ledger import (
    FAUCET,
    SINKS,
    Leg,
    PostedEntry,
    check_balanced,
    is_sink,
    transfer,
)
from chalicelib.observability import emit

__all__ = [
    "amount_posted", "balance_of", "begin_verification", "create_agent_account", "end_verification",
    "finish_verification_run", "history", "last_leg_id", "latest_checkpoint", "latest_verification",
    "lock_balances", "lock_full_verification", "post_entry", "prune_verifications", "record_rewards",
    "sink_balance", "start_verification_run", "unbalanced_entries", "verification_balances", "verify",
    "verify_batch",
]


def create_agent_account(conn: Connection, agent_id: Any) -> None:
    conn.execute(
        "INSERT INTO accounts (code, kind, agent_id) VALUES (%s, 'agent', %s) ON CONFLICT DO NOTHING",
        (f"agent:{agent_id}", agent_id),
    )


# One statement per entry (one round trip): look the key up, lock the legs' accounts in id order,
# check them, insert the entry (ON CONFLICT guards a concurrent retry), move the balances and write
# the legs with balance_before/after taken from the updated rows. Nothing moves unless every account
# exists and no agent account would go below zero. Accounts are found by code through the unique
# index in both `locked` and `moved` (no join), so the plan stays index lookups however many
# accounts exist. The arrays are read through `args` so that the planner sees no literal array in
# any execution: its estimates are then the same for every call, PostgreSQL settles on the generic
# plan of the prepared statement, and the statement is not planned again on every call.
_POST_ENTRY = """
WITH args AS MATERIALIZED (
    SELECT %(codes)s::text[] AS codes, %(amounts)s::bigint[] AS amounts
),
known AS (
    SELECT id, kind FROM journal_entries WHERE idempotency_key = %(key)s
),
locked AS MATERIALIZED (
    SELECT a.id, a.kind, a.balance,
           (SELECT amounts FROM args)[array_position((SELECT codes FROM args), a.code)] AS amount
    FROM accounts a
    WHERE a.code = ANY((SELECT codes FROM args)::text[]) AND NOT EXISTS (SELECT 1 FROM known)
    ORDER BY a.id
    FOR UPDATE
),
verdict AS (
    SELECT count(*) = %(n)s AS found,
           coalesce(bool_and(kind = 'system' OR balance + amount >= 0), true) AS funded
    FROM locked
),
entry AS (
    INSERT INTO journal_entries (idempotency_key, kind, memo)
    SELECT %(key)s, %(kind)s, %(memo)s FROM verdict
    WHERE found AND funded AND NOT EXISTS (SELECT 1 FROM known)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
),
moved AS (
    UPDATE accounts a
    SET balance = a.balance + (SELECT amounts FROM args)[array_position((SELECT codes FROM args), a.code)]
    WHERE a.code = ANY((SELECT codes FROM args)::text[]) AND EXISTS (SELECT 1 FROM entry)
    RETURNING a.id AS account_id,
              (SELECT amounts FROM args)[array_position((SELECT codes FROM args), a.code)] AS amount,
              a.balance
),
written AS (
    INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)
    SELECT e.id, m.account_id, m.amount, m.balance - m.amount, m.balance FROM moved m, entry e
    RETURNING entry_id
)
SELECT (SELECT id FROM entry) AS entry_id, (SELECT count(*) FROM written) AS legs_written,
       (SELECT id FROM known) AS known_id, (SELECT kind FROM known) AS known_kind, v.found, v.funded
FROM verdict v
"""


def _array_literal(values: Iterable[object]) -> str:
    """A PostgreSQL array literal with every element quoted (cheaper to send than a list adapted
    element by element, and cast to text[] / bigint[] in the statement)."""
    return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def post_entry(
    conn: Connection,
    *,
    idempotency_key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: dict[str, Any] | None = None,
) -> PostedEntry:
    """Post one balanced entry inside the caller's transaction, at most once per idempotency key.

    One statement, one round trip. Accounts are locked in id order (no deadlocks between concurrent
    entries) and every balance_before/after comes from the locked row. An agent account that would go
    below zero raises InsufficientCredits, an unknown account NotFound; in both cases nothing was
    written. A key posted before returns that entry with created=False and moves nothing (also when
    a concurrent transaction posts the same key: the unique key makes one of them a no-op). An entry
    with no legs records an event that moved no money (e.g. a hardship waiver).
    """
    check_balanced(legs)
    codes = [leg.account_code for leg in legs]
    row = conn.execute(
        _POST_ENTRY,
        {"key": idempotency_key, "kind": kind, "memo": Jsonb(memo or {}), "codes": _array_literal(codes),
         "amounts": _array_literal(leg.amount for leg in legs), "n": len(legs)},
        prepare=True,
    ).fetchone()
    assert row is not None
    if row["known_id"] is not None:
        return PostedEntry(int(row["known_id"]), idempotency_key, row["known_kind"], created=False)
    if row["entry_id"] is not None:
        if int(row["legs_written"]) != len(legs):  # impossible while the locks hold; never post half
            raise RuntimeError(f"entry {idempotency_key} wrote {row['legs_written']} of {len(legs)} legs")
        _emit_flows(kind, legs)
        return PostedEntry(int(row["entry_id"]), idempotency_key, kind, created=True)
    if not row["found"] or not row["funded"]:
        # The failure path reads the (already locked) accounts once more to say what was wrong.
        accounts = {a["code"]: a for a in conn.execute(
            "SELECT code, kind, balance FROM accounts WHERE code = ANY(%s)", (codes,)).fetchall()}
        missing = sorted(set(codes) - accounts.keys())
        if missing:
            raise NotFound("account not found", details={"accounts": missing})
        for leg in legs:
            account = accounts[leg.account_code]
            if account["kind"] == "agent" and int(account["balance"]) + leg.amount < 0:
                raise InsufficientCredits(
                    "not enough credits", details={"balance": int(account["balance"]), "required": -leg.amount}
                )
    # Found and funded, yet not inserted: a concurrent transaction committed the same key meanwhile.
    existing = conn.execute(
        "SELECT id, kind FROM journal_entries WHERE idempotency_key = %s", (idempotency_key,)
    ).fetchone()
    if existing is None:
        raise RuntimeError(f"entry {idempotency_key} was neither posted nor found")
    return PostedEntry(int(existing["id"]), idempotency_key, existing["kind"], created=False)


# Several faucet-to-account entries in one statement (the consensus stage's rewards): look the keys
# up, lock the faucet and the accounts in id order, insert the new entries (ON CONFLICT guards a
# concurrent retry), move each balance once by the sum of its legs, and write the legs chained per
# account in entry order: a leg's balance_after is the balance before the statement plus the running
# sum of the account's legs up to it. Known keys report what their entry credited the account.
_RECORD_REWARDS = """
WITH args AS MATERIALIZED (
    SELECT a.n, a.key, a.code, a.amount, a.memo
    FROM unnest(%(keys)s::text[], %(codes)s::text[], %(amounts)s::bigint[], %(memos)s::jsonb[])
         WITH ORDINALITY AS a(key, code, amount, memo, n)
),
known AS MATERIALIZED (
    SELECT j.id, j.idempotency_key AS key FROM journal_entries j WHERE j.idempotency_key = ANY(%(keys)s::text[])
),
locked AS MATERIALIZED (
    SELECT id, code FROM accounts WHERE code = ANY(%(codes)s::text[] || %(faucet)s::text) ORDER BY id FOR UPDATE
),
fresh AS MATERIALIZED (
    SELECT a.* FROM args a
    WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.key = a.key)
      AND EXISTS (SELECT 1 FROM locked l WHERE l.code = a.code)
      AND EXISTS (SELECT 1 FROM locked l WHERE l.code = %(faucet)s)
),
entry AS (
    INSERT INTO journal_entries (idempotency_key, kind, memo)
    SELECT key, %(kind)s, memo FROM fresh ORDER BY n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key AS key
),
legs AS MATERIALIZED (
    SELECT e.id AS entry_id, 0 AS side, l.id AS account_id, -f.amount AS amount
    FROM entry e JOIN fresh f ON f.key = e.key JOIN locked l ON l.code = %(faucet)s
    UNION ALL
    SELECT e.id, 1, l.id, f.amount FROM entry e JOIN fresh f ON f.key = e.key JOIN locked l ON l.code = f.code
),
moved AS (
    UPDATE accounts a SET balance = a.balance + t.delta
    FROM (SELECT account_id, sum(amount)::bigint AS delta FROM legs GROUP BY account_id) t
    WHERE a.id = t.account_id
    RETURNING a.id, a.balance - t.delta AS start
),
written AS (
    INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)
    SELECT g.entry_id, g.account_id, g.amount, m.start + g.running - g.amount, m.start + g.running
    FROM (SELECT legs.*, sum(amount) OVER (PARTITION BY account_id ORDER BY entry_id, side)::bigint AS running
          FROM legs) g
    JOIN moved m ON m.id = g.account_id
    ORDER BY g.entry_id, g.side
    RETURNING entry_id
)
SELECT a.key, a.code, a.amount, e.id AS entry_id, k.id AS known_id,
       (SELECT count(*) FROM written) AS legs_written,
       (SELECT coalesce(sum(jl.amount), 0) FROM journal_legs jl JOIN accounts ac ON ac.id = jl.account_id
        WHERE jl.entry_id = k.id AND ac.code = a.code) AS earlier
FROM args a LEFT JOIN entry e ON e.key = a.key LEFT JOIN known k ON k.key = a.key
ORDER BY a.n
"""


def record_rewards(
    conn: Connection, rewards: Sequence[tuple[str, str, int, dict[str, Any]]], *, kind: str,
) -> dict[str, int]:
    """Post several entries moving money from the faucet, each (idempotency key, account code, amount
    > 0, memo), in one statement inside the caller's transaction; returns, per key, what its entry
    credited the account: this time, or before (a key posted earlier moves nothing again, also when
    a concurrent transaction posts it meanwhile). An unknown account raises NotFound. The legs chain
    as post_entry's do (each account's balance_before is its previous leg's balance_after)."""
    if not rewards:
        return {}
    keys = [key for key, _, _, _ in rewards]
    if len(set(keys)) != len(keys):
        raise ValueError("one entry per idempotency key")
    if any(amount <= 0 or isinstance(amount, bool) for _, _, amount, _ in rewards):
        raise ValueError("a reward moves a positive amount")
    rows = conn.execute(
        _RECORD_REWARDS,
        {"keys": _array_literal(keys), "codes": _array_literal(code for _, code, _, _ in rewards),
         "amounts": _array_literal(amount for _, _, amount, _ in rewards),
         "memos": [Jsonb(memo) for _, _, _, memo in rewards], "faucet": FAUCET, "kind": kind},
    ).fetchall()
    created = [r for r in rows if r["entry_id"] is not None]
    if created and int(rows[0]["legs_written"]) != 2 * len(created):  # never post half
        raise RuntimeError(f"rewards wrote {rows[0]['legs_written']} legs for {len(created)} entries")
    paid: dict[str, int] = {}
    for r in rows:
        if r["entry_id"] is not None:
            _emit_flows(kind, transfer(FAUCET, r["code"], int(r["amount"])))
            paid[r["key"]] = int(r["amount"])
        elif r["known_id"] is not None:
            paid[r["key"]] = int(r["earlier"])
        else:  # posted by a concurrent transaction meanwhile, or an account that does not exist
            earlier = amount_posted(conn, r["key"], r["code"])
            if earlier is None:
                raise NotFound("account not found", details={"accounts": [r["code"]]})
            paid[r["key"]] = earlier
    return paid


def _emit_flows(kind: str, legs: Sequence[Leg]) -> None:
    """Credits leaving the faucet and entering the sink (or its shards), in millicredits, by entry kind."""
    out_of_faucet = -sum(leg.amount for leg in legs if leg.account_code == FAUCET)
    into_sink = sum(leg.amount for leg in legs if is_sink(leg.account_code))
    if out_of_faucet:
        emit("CreditsFaucet", out_of_faucet, Kind=kind)
    if into_sink:
        emit("CreditsSink", into_sink, Kind=kind)


def lock_balances(conn: Connection, account_codes: Sequence[str]) -> dict[str, int]:
    """The accounts' balances, row-locked in id order (the order post_entry uses, so no deadlock)
    until the caller's transaction ends."""
    rows = conn.execute(
        "SELECT code, balance FROM accounts WHERE code = ANY(%s) ORDER BY id FOR UPDATE", (list(account_codes),)
    ).fetchall()
    found = {r["code"]: int(r["balance"]) for r in rows}
    missing = sorted(set(account_codes) - found.keys())
    if missing:
        raise NotFound("account not found", details={"accounts": missing})
    return found


def amount_posted(conn: Connection, idempotency_key: str, account_code: str) -> int | None:
    """What the entry with this key moved into (or, negative, out of) the account: None when no such
    entry exists, 0 when it exists without a leg on that account."""
    row = conn.execute(
        "SELECT e.id, coalesce(sum(l.amount), 0) AS amount FROM journal_entries e"
        " LEFT JOIN journal_legs l ON l.entry_id = e.id"
        "  AND l.account_id = (SELECT id FROM accounts WHERE code = %s)"
        " WHERE e.idempotency_key = %s GROUP BY e.id",
        (account_code, idempotency_key),
    ).fetchone()
    return None if row is None else int(row["amount"])


def balance_of(conn: Connection, account_code: str) -> int:
    row = conn.execute("SELECT balance FROM accounts WHERE code = %s", (account_code,)).fetchone()
    if row is None:
        raise NotFound("account not found")
    return int(row["balance"])


def sink_balance(conn: Connection) -> int:
    """What the sink holds: the old sink account and its shards together."""
    row = conn.execute("SELECT coalesce(sum(balance), 0) AS balance FROM accounts WHERE code = ANY(%s)",
                       (list(SINKS),)).fetchone()
    assert row is not None
    return int(row["balance"])


def history(
    conn: Connection, account_code: str, *, limit: int, before: tuple[datetime, str] | None,
    agent_id: str | None = None,
) -> list[dict[str, Any]]:
    """Legs of one account, newest first, keyset-paged on (created_at, id).

    With ``agent_id``, the agent's hardship waivers are lines too: entries that moved no money have
    no leg, so each appears with amount 0, the balance it was granted at, and the negated entry id
    (leg ids are positive: the two never collide, and (created_at, id) stays a total order).
    """
    params: dict[str, Any] = {"code": account_code, "agent": agent_id, "limit": limit}
    where = ""
    if before is not None:
        where = " WHERE (h.created_at, h.id) < (%(at)s, %(id)s::bigint)"
        params |= {"at": before[0], "id": before[1]}
    return conn.execute(
        "SELECT * FROM ("
        " SELECT l.id, l.amount, l.balance_before, l.balance_after, l.created_at,"
        " e.kind, e.idempotency_key, e.memo"
        " FROM journal_legs l JOIN accounts a ON a.id = l.account_id"
        " JOIN journal_entries e ON e.id = l.entry_id"
        " WHERE a.code = %(code)s"
        " UNION ALL"
        " SELECT -e.id, 0, (e.memo->>'balance')::bigint, (e.memo->>'balance')::bigint, e.created_at,"
        " e.kind, e.idempotency_key, e.memo"
        " FROM journal_entries e"
        " WHERE e.kind = 'hardship_waiver' AND %(agent)s::text IS NOT NULL AND e.memo->>'agent_id' = %(agent)s"
        ") h" + where + " ORDER BY h.created_at DESC, h.id DESC LIMIT %(limit)s",
        params,
    ).fetchall()
