"""The ledger in PostgreSQL: post balanced entries once per idempotency key, rebuild and verify."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.errors import InsufficientCredits, NotFound
from chalicelib.domain.ledger import (
    FAUCET,
    MAX_REPORTED_MISMATCHES,
    SINKS,
    Leg,
    PostedEntry,
    check_balanced,
    is_sink,
    transfer,
)
from chalicelib.observability import emit


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


_VERIFY_LOCK = 7_300_020  # advisory lock: full passes run one at a time (a second one waits)


def verify(conn: Connection) -> dict[str, Any]:
    """Rebuild every balance from the whole journal in one statement per check (small ledgers and
    tests; at volume use the batched pass below).

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


# --- the batched verification ------------------------------------------------------------------------
# A pass runs in one transaction. Its state lives in ledger_verify_scratch(_entries) under the
# transaction's id (txid_current(): the same for every statement of the pass, unique among passes):
# per account the running sum of its legs checked so far and the balance_after of the last one
# (where its chain continues), and the entries whose legs did not sum to zero within one batch (an
# entry whose legs straddle two batches is summed whole at the end). end_verification deletes it.


def lock_full_verification(conn: Connection) -> None:
    """Wait for any other full pass to finish (transaction-scoped advisory lock)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_VERIFY_LOCK,))


def last_leg_id(conn: Connection, *, before: datetime | None = None) -> int:
    """The highest leg id (written before `before`, if given); 0 for an empty journal. Reads the
    primary key backwards: legs written since `before` are the only ones passed over."""
    if before is None:
        row = conn.execute("SELECT coalesce(max(id), 0) AS id FROM journal_legs").fetchone()
    else:
        row = conn.execute(
            "SELECT id FROM journal_legs WHERE created_at < %s ORDER BY id DESC LIMIT 1", (before,)).fetchone()
    return int(row["id"]) if row else 0


def latest_verification(conn: Connection) -> dict[str, Any] | None:
    """The latest full pass (without its balances), or None."""
    return conn.execute("SELECT * FROM ledger_verify_runs ORDER BY id DESC LIMIT 1").fetchone()


def latest_checkpoint(conn: Connection) -> dict[str, Any] | None:
    """The latest full pass that found nothing wrong: where the API starts (its balances are kept;
    none at all when it checked no settled leg)."""
    return conn.execute(
        "SELECT * FROM ledger_verify_runs WHERE mismatches = '[]'::jsonb ORDER BY id DESC LIMIT 1"
    ).fetchone()


def begin_verification(conn: Connection, checkpoint_id: int | None = None) -> None:
    """Start the pass's state: empty (a pass from the first leg) or the balances of a checkpoint."""
    if checkpoint_id is not None:
        conn.execute("INSERT INTO ledger_verify_scratch (pass, account_id, total, last_after)"
                     " SELECT txid_current(), account_id, total, last_after FROM ledger_verify_balances"
                     " WHERE run_id = %s", (checkpoint_id,))


def end_verification(conn: Connection) -> None:
    """Drop the pass's state (before its transaction ends: nobody else ever sees it)."""
    conn.execute("DELETE FROM ledger_verify_scratch WHERE pass = txid_current()")
    conn.execute("DELETE FROM ledger_verify_scratch_entries WHERE pass = txid_current()")


def verify_batch(conn: Connection, after: int, upto: int, *, from_origin: bool = True) -> dict[str, Any]:
    """Check the legs with id in (after, upto] and fold them into the pass's state, in one statement.

    Each leg must continue its account's chain (balance_before = the previous leg's balance_after;
    an account's first leg starts at 0 when `from_origin`, otherwise a leg with no known predecessor
    is not judged) and move exactly its amount (balance_after - balance_before = amount). Returns
    the legs checked and the problems found (at most 100)."""
    rows = conn.execute(
        "WITH batch AS MATERIALIZED ("
        "  SELECT id, entry_id, account_id, amount, balance_before, balance_after,"
        "   lag(balance_after) OVER (PARTITION BY account_id ORDER BY id) AS prev"
        "  FROM journal_legs WHERE id > %(after)s AND id <= %(upto)s"
        "), folded AS ("
        "  INSERT INTO ledger_verify_scratch AS v (pass, account_id, total, last_after)"
        "  SELECT DISTINCT ON (account_id) txid_current(), account_id, sum(amount) OVER (PARTITION BY account_id),"
        "   balance_after"
        "  FROM batch ORDER BY account_id, id DESC"
        "  ON CONFLICT (pass, account_id) DO UPDATE SET total = v.total + excluded.total,"
        "   last_after = excluded.last_after"
        "), odd_entries AS ("
        "  INSERT INTO ledger_verify_scratch_entries (pass, entry_id)"
        "  SELECT txid_current(), entry_id FROM batch GROUP BY entry_id HAVING sum(amount) <> 0"
        "  ON CONFLICT DO NOTHING"
        "), problems AS ("
        "  SELECT b.account_id, b.id AS leg_id,"
        "   CASE WHEN b.balance_after - b.balance_before <> b.amount THEN 'leg arithmetic' ELSE 'broken chain' END"
        "   AS problem"
        "  FROM batch b LEFT JOIN ledger_verify_scratch s ON s.pass = txid_current() AND s.account_id = b.account_id"
        "  WHERE b.balance_after - b.balance_before <> b.amount"
        "   OR b.balance_before <> coalesce(b.prev, s.last_after, CASE WHEN %(origin)s THEN 0::bigint END)"
        "  ORDER BY b.id LIMIT %(max)s"
        ")"
        " SELECT NULL::bigint AS account_id, NULL::bigint AS leg_id, NULL::text AS code, 'count' AS problem,"
        "  (SELECT count(*) FROM batch) AS legs"
        " UNION ALL"
        " SELECT p.account_id, p.leg_id, a.code, p.problem, NULL FROM problems p"
        " LEFT JOIN accounts a ON a.id = p.account_id",
        {"after": after, "upto": upto, "origin": from_origin, "max": MAX_REPORTED_MISMATCHES},
    ).fetchall()
    legs = next(int(r["legs"]) for r in rows if r["problem"] == "count")
    problems = [{"account": r["code"], "leg": int(r["leg_id"]), "problem": r["problem"]}
                for r in rows if r["problem"] != "count"]
    return {"legs": legs, "problems": problems}


def verification_balances(conn: Connection) -> dict[str, Any]:
    """Compare every account's stored balance with the sum of its legs the pass folded in (the pass
    must have reached the last leg its snapshot sees). Returns the accounts checked and the
    differences (at most 100)."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM accounts) AS accounts, coalesce((SELECT json_agg(d ORDER BY d.id) FROM ("
        "  SELECT a.id, a.code AS account, a.balance AS stored, coalesce(s.total, 0) AS rebuilt"
        "  FROM accounts a LEFT JOIN ledger_verify_scratch s ON s.pass = txid_current() AND s.account_id = a.id"
        "  WHERE a.balance <> coalesce(s.total, 0) ORDER BY a.id LIMIT %s) d), '[]') AS mismatches",
        (MAX_REPORTED_MISMATCHES,),
    ).fetchone()
    assert row is not None
    return {"accounts": int(row["accounts"]),
            "mismatches": [{"account": m["account"], "stored": int(m["stored"]), "rebuilt": int(m["rebuilt"])}
                           for m in row["mismatches"]]}


def unbalanced_entries(conn: Connection) -> list[dict[str, Any]]:
    """Entries whose legs, summed whole, are not zero (from those a batch saw unbalanced)."""
    rows = conn.execute(
        "SELECT l.entry_id, sum(l.amount) AS total FROM ledger_verify_scratch_entries v"
        " JOIN journal_legs l ON l.entry_id = v.entry_id WHERE v.pass = txid_current()"
        " GROUP BY l.entry_id HAVING sum(l.amount) <> 0 ORDER BY l.entry_id LIMIT %s",
        (MAX_REPORTED_MISMATCHES,),
    ).fetchall()
    return [{"entry": int(r["entry_id"]), "sum": int(r["total"]), "problem": "unbalanced"} for r in rows]


def start_verification_run(conn: Connection, *, upto_leg_id: int, started_at: datetime) -> int:
    """Record a full pass and keep its state as it stands (every account's total at the checkpoint's
    leg) as the run's balances. Inserts only: concurrent passes never conflict."""
    row = conn.execute(
        "INSERT INTO ledger_verify_runs (upto_leg_id, started_at, accounts_checked, legs_checked, batches)"
        " VALUES (%s, %s, 0, 0, 0) RETURNING id", (upto_leg_id, started_at),
    ).fetchone()
    assert row is not None
    conn.execute("INSERT INTO ledger_verify_balances (run_id, account_id, total, last_after)"
                 " SELECT %s, account_id, total, last_after FROM ledger_verify_scratch WHERE pass = txid_current()",
                 (row["id"],))
    return int(row["id"])


def finish_verification_run(
    conn: Connection, run_id: int, *, accounts: int, legs: int, batches: int, mismatches: list[dict[str, Any]],
) -> None:
    """Complete the pass's record; a pass that found anything keeps no balances (it is no checkpoint)."""
    conn.execute(
        "UPDATE ledger_verify_runs SET finished_at = now(), accounts_checked = %s, legs_checked = %s, batches = %s,"
        " mismatches = %s WHERE id = %s",
        (accounts, legs, batches, Jsonb(mismatches), run_id),
    )
    if mismatches:
        conn.execute("DELETE FROM ledger_verify_balances WHERE run_id = %s", (run_id,))


def prune_verifications(conn: Connection, keep_runs: int = 30) -> int:
    """Drop the balances of every pass before the latest checkpoint, and the passes beyond the latest
    `keep_runs` (never the checkpoint itself); returns the passes deleted."""
    latest = "(SELECT max(id) FROM ledger_verify_runs WHERE mismatches = '[]'::jsonb)"
    conn.execute(f"DELETE FROM ledger_verify_balances WHERE run_id < {latest}")
    return conn.execute(
        "DELETE FROM ledger_verify_runs WHERE id < (SELECT min(id) FROM"
        " (SELECT id FROM ledger_verify_runs ORDER BY id DESC LIMIT %s) t)"
        f" AND id IS DISTINCT FROM {latest}",
        (keep_runs,),
    ).rowcount
