"""Verifying the ledger in PostgreSQL: every balance rebuilt from the journal, in one statement for
small ledgers or in checkpointed leg-id batches at volume (the nightly ledger_verify job, the API's
check since the last clean pass). Posting lives in `ledger_repo`, which re-exports these functions
for the unit of work's `ledger` repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.ledger import MAX_REPORTED_MISMATCHES

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
