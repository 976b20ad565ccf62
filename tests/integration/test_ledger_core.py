"""The ledger core: balanced entries, once per key, never below zero, rebuildable."""

from __future__ import annotations

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.adapters import ledger_repo
from chalicelib.db.pool import transaction
from chalicelib.domain.errors import InsufficientCredits, NotFound
from chalicelib.domain.ledger import FAUCET, SINK, Leg, agent_account, transfer
from chalicelib.services import agents as agent_service
from chalicelib.services.credits import verify_ledger


def new_agent(name: str = "a") -> str:
    reg = agent_service.register_agent(bootstrap.unit_of_work(), kind="agent", name=name, description="", caller=None)
    return agent_account(reg.agent["id"])


def test_an_idempotency_key_moves_money_once(db: str) -> None:
    account = new_agent()
    for _ in range(3):
        with transaction() as conn:
            ledger_repo.post_entry(conn, idempotency_key="fee:1", kind="submission_fee",
                                   legs=transfer(account, SINK, 2_000))
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, account) == 48_000
        assert ledger_repo.balance_of(conn, SINK) == 2_000
    checked = 3 + 16  # the faucet, the sink, the agent and the sink's 16 shards
    report = verify_ledger(bootstrap.unit_of_work())
    assert (report["accounts_checked"], report["mismatches"], report["scope"]) == (checked, [], "whole_journal")


def test_overspending_raises_and_writes_nothing(db: str) -> None:
    account = new_agent()
    with pytest.raises(InsufficientCredits), transaction() as conn:
        ledger_repo.post_entry(conn, idempotency_key="big", kind="submission_fee",
                               legs=transfer(account, SINK, 50_001))
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, account) == 50_000
        assert conn.execute("SELECT count(*) AS n FROM journal_entries WHERE idempotency_key = 'big'"
                            ).fetchone()["n"] == 0  # type: ignore[index]


def test_unbalanced_entries_are_refused_by_the_code_and_by_the_database(db: str) -> None:
    account = new_agent()
    with pytest.raises(ValueError, match="sum to zero"), transaction() as conn:
        ledger_repo.post_entry(conn, idempotency_key="bad", kind="x", legs=[Leg(account, 5), Leg(SINK, -4)])
    with pytest.raises(psycopg.errors.CheckViolation), psycopg.connect(db) as conn:
        entry = conn.execute("INSERT INTO journal_entries (idempotency_key, kind) VALUES ('raw', 'x') RETURNING id"
                             ).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after)"
                     " VALUES (%s, 1, 5, 0, 5)", (entry,))
        conn.commit()


def test_the_journal_is_append_only(db: str) -> None:
    new_agent()
    with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(db) as conn:
        conn.execute("UPDATE journal_legs SET amount = amount + 1")


def test_verification_finds_a_tampered_balance(db: str) -> None:
    account = new_agent()
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 7 WHERE code = %s", (account,))
    report = verify_ledger(bootstrap.unit_of_work())
    assert report["mismatches"] == [{"account": account, "stored": 50_007, "rebuilt": 50_000}]


def test_starter_grants_come_from_the_faucet(db: str) -> None:
    new_agent("one")
    new_agent("two")
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, FAUCET) == -100_000


def test_credits_history_pages_through_many_movements_with_equal_timestamps(db: str) -> None:
    from tests.support import api_client

    with api_client() as api:
        key, agent = api.register("busy")
        account = agent_account(agent["id"])
        with transaction() as conn:  # 30 movements sharing one created_at (one transaction)
            for i in range(30):
                ledger_repo.post_entry(conn, idempotency_key=f"same-time:{i}", kind="grant",
                                       legs=transfer(FAUCET, account, i + 1))
        for i in range(12):  # and some more, each at its own time
            with transaction() as conn:
                ledger_repo.post_entry(conn, idempotency_key=f"own-time:{i}", kind="fee",
                                       legs=transfer(account, SINK, 1))
        with transaction() as conn:
            expected = [r["id"] for r in conn.execute(
                "SELECT l.id FROM journal_legs l JOIN accounts a ON a.id = l.account_id WHERE a.code = %s"
                " ORDER BY l.created_at DESC, l.id DESC", (account,))]
            assert conn.execute("SELECT count(DISTINCT l.created_at) AS n FROM journal_legs l"
                                " JOIN journal_entries e ON e.id = l.entry_id AND e.kind = 'grant'"
                                " JOIN accounts a ON a.id = l.account_id AND a.code = %s",
                                (account,)).fetchone()["n"] == 1  # type: ignore[index]
        seen: list[int] = []
        cursor = ""
        pages = 0
        while True:
            page = api.get(f"/v1/credits?limit=7{cursor}", key=key)
            assert page.status == 200
            seen += [line["id"] for line in page.data["history"]]
            pages += 1
            if page.body["meta"]["next_cursor"] is None:
                break
            cursor = f"&cursor={page.body['meta']['next_cursor']}"
        assert seen == expected and len(seen) == 43  # starter grant + 30 + 12, each once, in order
        assert pages == 7
        assert page.data["balance"]["millicredits"] == 50_000 + sum(range(1, 31)) - 12


def test_array_literals_sent_by_post_entry_round_trip_any_text(db: str) -> None:
    from chalicelib.adapters.ledger_repo import _array_literal

    values = ["agent:1", 'quote"inside', "back\\slash", "comma,brace}{", "", "NULL", " spaced "]
    with transaction() as conn:
        row = conn.execute("SELECT %s::text[] AS t, %s::bigint[] AS n",
                           (_array_literal(values), _array_literal([-5, 0, 2**62]))).fetchone()
    assert row is not None and row["t"] == values and row["n"] == [-5, 0, 2**62]


def test_rewards_post_in_one_statement_once_per_key_with_chained_legs(db: str) -> None:
    # Given two validators, one of them rewarded twice in the same batch, and a key posted before
    first, second = new_agent("first"), new_agent("second")
    with transaction() as conn:
        assert ledger_repo.record_rewards(conn, [("validation:old", first, 300, {})], kind="validation_reward") == {
            "validation:old": 300}
    batch = [("validation:a", first, 500, {"n": 1}), ("validation:b", second, 750, {"n": 2}),
             ("validation:old", first, 999, {}), ("validation:c", first, 1_000, {"n": 3})]
    with transaction() as conn:
        paid = ledger_repo.record_rewards(conn, batch, kind="validation_reward")
    # Then new keys pay, the known key reports what it paid then and moves nothing
    assert paid == {"validation:a": 500, "validation:b": 750, "validation:old": 300, "validation:c": 1_000}
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, first) == 50_000 + 300 + 500 + 1_000
        assert ledger_repo.balance_of(conn, second) == 50_000 + 750
        # And each account's legs chain in entry order (the faucet's three, the first validator's two)
        legs = conn.execute(
            "SELECT a.code, l.amount, l.balance_before, l.balance_after FROM journal_legs l"
            " JOIN accounts a ON a.id = l.account_id JOIN journal_entries e ON e.id = l.entry_id"
            " WHERE e.idempotency_key IN ('validation:a', 'validation:c') AND a.code = %s ORDER BY l.id",
            (first,)).fetchall()
        assert [(r["amount"], r["balance_before"], r["balance_after"]) for r in legs] == [
            (500, 50_300, 50_800), (1_000, 50_800, 51_800)]
        # a second run of the whole batch moves nothing
        assert ledger_repo.record_rewards(conn, batch, kind="validation_reward") == paid
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []
    with transaction() as conn, pytest.raises(NotFound):
        ledger_repo.record_rewards(conn, [("validation:x", "agent:nobody", 500, {})], kind="validation_reward")
