"""The journal at volume, in the real database: the hourly rollup gives the same flows as summing the
legs, and the batched, checkpointed verification finds what is wrong with the books."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import bootstrap
from chalicelib.domain.ledger import FAUCET, SINK, agent_account, transfer
from chalicelib.services import agents as agent_service
from chalicelib.services import credits
from chalicelib.services import economy as economy_service
from tests.integration.test_ledger_properties import post, run_in_threads

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
SHARD = f"{SINK}:3"  # a shard of the fee sink: counted as sink everywhere
KINDS = ("starter_grant", "validation_reward", "submission_fee", "refund")


def journal(db: str, moves: list[tuple[datetime, str, str, int, str]]) -> None:
    """Balanced two-leg entries dated as given (post_entry dates entries now), chained per account."""
    with psycopg.connect(db) as conn:
        ids: dict[str, int] = dict(conn.execute("SELECT code, id FROM accounts").fetchall())
        for i, (when, source, target, amount, kind) in enumerate(sorted(moves)):
            entry = conn.execute("INSERT INTO journal_entries (idempotency_key, kind, created_at) VALUES (%s, %s, %s)"
                                 " RETURNING id", (f"move:{i}", kind, when)).fetchone()[0]  # type: ignore[index]
            for code, delta in ((source, -amount), (target, amount)):
                before = conn.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s RETURNING balance - %s",
                                      (delta, ids[code], delta)).fetchone()[0]  # type: ignore[index]
                conn.execute("INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after,"
                             " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                             (entry, ids[code], delta, before, before + delta, when))
        conn.commit()


def expected(moves: list[tuple[datetime, str, str, int, str]], start: datetime, end: datetime) -> tuple[int, int, int]:
    """(faucet without grants, grants, sink) summed straight from the moves."""
    faucet = grants = sink = 0
    for when, source, target, amount, kind in moves:
        if not start <= when < end:
            continue
        for code, delta in ((source, -amount), (target, amount)):
            if code == FAUCET:
                if kind == "starter_grant":
                    grants -= delta
                else:
                    faucet -= delta
            elif code == SINK or code.startswith(SINK + ":"):
                sink += delta
    return faucet, grants, sink


moments = st.integers(0, 3 * 24 * 3600 * 1000).map(lambda ms: T0 + timedelta(milliseconds=ms))
move = st.tuples(moments, st.sampled_from([FAUCET, SINK, SHARD, "system:reserve"]),
                 st.sampled_from([FAUCET, SINK, SHARD, "system:reserve"]), st.integers(1, 10_000),
                 st.sampled_from(KINDS)).filter(lambda m: m[1] != m[2])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(move, max_size=40), now=moments, windows=st.lists(st.tuples(moments, moments), min_size=1,
                                                                          max_size=6))
def test_rollup_plus_tail_equals_the_sum_over_the_journal_after_random_transfers(
    db: str, moves: list[tuple[datetime, str, str, int, str]], now: datetime,
    windows: list[tuple[datetime, datetime]],
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:  # every example starts from an empty journal
        conn.execute("TRUNCATE journal_legs, journal_entries, ledger_hourly_flows, ledger_rollup_state")
        conn.execute("UPDATE accounts SET balance = 0")
        conn.execute("INSERT INTO accounts (code, kind) VALUES (%s, 'system'), ('system:reserve', 'system')"
                     " ON CONFLICT DO NOTHING", (SHARD,))
    # Given transfers between the faucet, the sink, a sink shard and another system account over three days
    journal(db, moves)
    # When the rollup catches up at `now` (twice: a repeated run changes nothing)
    first = economy_service.refresh_ledger_rollup(bootstrap.unit_of_work(), now)
    economy_service.refresh_ledger_rollup(bootstrap.unit_of_work(), now)
    # Then every window's flows, read from rollup + tail, equal the direct sums
    buckets = [(min(a, b), max(a, b)) for a, b in windows]
    with bootstrap.unit_of_work() as uow:
        got = uow.economy.bucket_flows(buckets)
        watermark = uow.economy.rollup_watermark()
    assert got == [expected(moves, lo, hi) for lo, hi in buckets]
    if moves:
        assert watermark == first["watermark"]
        assert watermark is None or watermark <= now


def test_the_snapshot_counts_fees_paid_into_a_sink_shard(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts (code, kind) VALUES (%s, 'system') ON CONFLICT (code) DO NOTHING", (SHARD,))
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    journal(db, [(hour + timedelta(minutes=5), FAUCET, SINK, 2_000, "submission_fee"),
                 (hour + timedelta(minutes=6), FAUCET, SHARD, 3_000, "submission_fee")])
    row = economy_service.snapshot_economy(bootstrap.unit_of_work(), now=hour + timedelta(hours=1, minutes=1))
    assert row["sink"] == 5_000
    # the hours are rolled up by now; a later overview reads them from the rollup, with the same sum
    economy_service.refresh_ledger_rollup(bootstrap.unit_of_work())
    with bootstrap.unit_of_work() as uow:
        assert uow.economy.window_flows(hour, hour + timedelta(hours=1))[2] == 5_000
        assert uow.economy.rollup_watermark() is not None


def test_a_backfill_spread_over_runs_advances_a_day_per_run_and_reads_right_all_along(db: str) -> None:
    moves = [(T0 + timedelta(hours=h, minutes=7), FAUCET, SINK, 100 + h, "submission_fee") for h in range(0, 72, 5)]
    journal(db, moves)
    now, window = T0 + timedelta(days=3), (T0 + timedelta(minutes=30), T0 + timedelta(days=2, hours=20))
    watermarks = []
    for _ in range(5):
        done = economy_service.refresh_ledger_rollup(bootstrap.unit_of_work(), now, max_chunks=1)
        watermarks.append(done["watermark"])
        with bootstrap.unit_of_work() as uow:
            assert uow.economy.window_flows(*window) == expected(moves, *window)
    start = T0 - timedelta(hours=1)  # the hour before the first leg, less the settling time
    assert watermarks == [start + timedelta(days=1), start + timedelta(days=2), start + timedelta(days=3),
                          now - timedelta(hours=1), now - timedelta(hours=1)]


# --- the batched verification -------------------------------------------------------------------------


def agents_trading(count: int, fees: int) -> list[str]:
    accounts = []
    for i in range(count):
        reg = agent_service.register_agent(bootstrap.unit_of_work(), kind="agent", name=f"trader-{i}",
                                           description="", caller=None)
        accounts.append(agent_account(reg.agent["id"]))
    rng = random.Random(7)
    for n in range(fees):
        post(f"fee:{n}", transfer(rng.choice(accounts), SINK, rng.randint(1, 500)), kind="submission_fee")
    return accounts


def plant_broken_chain(db: str, account: str) -> int:
    """A balanced entry whose leg on `account` claims a balance_before it never had (written with the
    triggers off, the way a bad restore or a manual fix would); returns the leg's id."""
    with psycopg.connect(db) as conn:
        conn.execute("SET session_replication_role = replica")
        ids: dict[str, int] = dict(conn.execute("SELECT code, id FROM accounts WHERE code = ANY(%s)",
                                                ([account, SINK],)).fetchall())
        entry = conn.execute("INSERT INTO journal_entries (idempotency_key, kind) VALUES ('planted', 'x')"
                             " RETURNING id").fetchone()[0]  # type: ignore[index]
        leg = conn.execute("INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)"
                           " VALUES (%s, %s, -10, 999999, 999989) RETURNING id",
                           (entry, ids[account])).fetchone()[0]  # type: ignore[index]
        sink = conn.execute("SELECT balance FROM accounts WHERE code = %s", (SINK,)).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)"
                     " VALUES (%s, %s, 10, %s, %s)", (entry, ids[SINK], sink, sink + 10))
        conn.execute("UPDATE accounts SET balance = balance - 10 WHERE id = %s", (ids[account],))
        conn.execute("UPDATE accounts SET balance = balance + 10 WHERE id = %s", (ids[SINK],))
        conn.commit()
        return int(leg)


def later() -> datetime:
    """A clock past the settling time, so that the full pass's checkpoint covers every leg so far."""
    return datetime.now(UTC) + timedelta(hours=1)


def open_alerts(db: str) -> list[dict[str, Any]]:
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT severity, status, details FROM alerts WHERE rule = 'ledger_mismatch'"
                            " AND status <> 'resolved'").fetchall()


@pytest.mark.parametrize("batch_legs", [1, 3, 1000])
def test_the_batched_full_pass_finds_a_planted_mismatch_and_a_broken_chain(db: str, batch_legs: int) -> None:
    accounts = agents_trading(4, 30)
    clean = credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=batch_legs)
    assert clean["mismatches"] == [] and clean["legs_checked"] == 2 * (4 + 30)
    # Given a stored balance changed outside the ledger and a leg that breaks its account's chain
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 7 WHERE code = %s", (accounts[0],))
    leg = plant_broken_chain(db, accounts[1])
    # When the full pass runs in small batches
    report = credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=batch_legs)
    # Then it names both, and raises the critical ledger_mismatch alert
    found = report["mismatches"]
    assert {"account": accounts[1], "leg": leg, "problem": "broken chain"} in found
    assert [m for m in found if m.get("account") == accounts[0]] == [
        {"account": accounts[0], "stored": found[0]["stored"], "rebuilt": found[0]["stored"] - 7}]
    alerts = open_alerts(db)
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical"
    assert alerts[0]["details"]["verification_id"] == report["verification_id"]


def test_an_unbalanced_entry_straddling_two_batches_is_found_once(db: str) -> None:
    agents_trading(2, 5)
    with psycopg.connect(db) as conn:  # a third leg, much later, of an old entry: the entry no longer sums to 0
        conn.execute("SET session_replication_role = replica")
        sink = conn.execute("SELECT id, balance FROM accounts WHERE code = %s", (SINK,)).fetchone()
        assert sink is not None
        conn.execute("INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)"
                     " VALUES ((SELECT min(id) FROM journal_entries WHERE kind = 'submission_fee'), %s, 5, %s, %s)",
                     (sink[0], sink[1], sink[1] + 5))
        conn.execute("UPDATE accounts SET balance = balance + 5 WHERE id = %s", (sink[0],))
        conn.commit()
    report = credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=2)
    assert [m for m in report["mismatches"] if m.get("problem") == "unbalanced"] == [
        {"entry": report["mismatches"][0]["entry"], "sum": 5, "problem": "unbalanced"}]


def test_the_api_verifies_from_the_checkpoint_and_the_alert_clears_after_a_clean_pass(db: str) -> None:
    accounts = agents_trading(3, 10)
    # Before any full pass, the API checks the whole (small) journal
    assert credits.verify_ledger(bootstrap.unit_of_work())["scope"] == "whole_journal"
    full = credits.verify_ledger_full(bootstrap.unit_of_work(), now=later())
    assert full["mismatches"] == [] and full["upto_leg_id"] > 0
    # Given legs written after the checkpoint
    for n in range(4):
        post(f"tail:{n}", transfer(accounts[n % 3], SINK, 3), kind="submission_fee")
    report = credits.verify_ledger(bootstrap.unit_of_work(), batch_legs=3)
    assert report["scope"] == "since_checkpoint" and report["complete"]
    shards = 16  # the sink's shards are accounts too
    assert report["legs_checked"] == 8 and report["accounts_checked"] == 5 + shards and report["mismatches"] == []
    assert report["checkpoint"]["id"] == full["verification_id"]
    # When a balance goes wrong after the checkpoint, the API finds it, and so does the nightly pass
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE accounts SET balance = balance - 1 WHERE code = %s", (accounts[2],))
    assert [m["account"] for m in credits.verify_ledger(bootstrap.unit_of_work())["mismatches"]] == [accounts[2]]
    credits.verify_ledger_full(bootstrap.unit_of_work(), now=later())
    assert len(open_alerts(db)) == 1
    # the failed pass is no checkpoint: the API keeps repeating its findings until a clean pass
    assert credits.verify_ledger(bootstrap.unit_of_work())["checkpoint"]["id"] == full["verification_id"]
    # Then, once the balance is put right, a clean pass resolves the alert and becomes the checkpoint
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 1 WHERE code = %s", (accounts[2],))
    fixed = credits.verify_ledger_full(bootstrap.unit_of_work(), now=later())
    assert fixed["mismatches"] == [] and open_alerts(db) == []
    after = credits.verify_ledger(bootstrap.unit_of_work())
    assert after["mismatches"] == [] and after["checkpoint"]["id"] == fixed["verification_id"]


def test_two_concurrent_full_passes_and_an_api_verification_all_succeed(db: str) -> None:
    agents_trading(3, 20)
    credits.verify_ledger_full(bootstrap.unit_of_work(), now=later())
    results = run_in_threads([
        lambda: credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=5),
        lambda: credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=7),
        lambda: credits.verify_ledger(bootstrap.unit_of_work(), batch_legs=2),
    ])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[0]["mismatches"] == results[1]["mismatches"] == results[2]["mismatches"] == []
    assert results[0]["verification_id"] != results[1]["verification_id"]
    assert credits.verify_ledger(bootstrap.unit_of_work())["checkpoint"]["id"] == max(
        results[0]["verification_id"], results[1]["verification_id"])


@pytest.mark.parametrize("books", ["wrong", "put right"])
def test_concurrent_full_passes_raise_or_resolve_the_alert_once_without_failing(db: str, books: str) -> None:
    accounts = agents_trading(3, 20)
    # Given an open ledger_mismatch alert from an earlier pass
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 3 WHERE code = %s", (accounts[0],))
    credits.verify_ledger_full(bootstrap.unit_of_work(), now=later())
    assert len(open_alerts(db)) == 1
    if books == "put right":
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("UPDATE accounts SET balance = balance - 3 WHERE code = %s", (accounts[0],))
    # When two passes run at once
    results = run_in_threads([
        lambda: credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=4),
        lambda: credits.verify_ledger_full(bootstrap.unit_of_work(), now=later(), batch_legs=9),
    ])
    # Then both succeed and agree, and the alert is still one (wrong) or resolved (put right)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[0]["mismatches"] == results[1]["mismatches"]
    assert len(open_alerts(db)) == (1 if books == "wrong" else 0)
