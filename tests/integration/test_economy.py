"""The credit economy in the real database: submission costs, hardship, rewards, health, admin routes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.adapters import alerts_repo, flags_repo, ledger_repo
from chalicelib.db.pool import transaction
from chalicelib.domain.alert_rules import RaisedAlert
from chalicelib.domain.errors import InsufficientCredits
from chalicelib.domain.ledger import FAUCET, SINK, agent_account, sink_for, transfer
from chalicelib.services import economy as economy_service
from chalicelib.services.credits import verify_ledger
from tests.support import Api, admin_key, api_client

SUBMISSION = {
    "kind": "problem",
    "title": "Community garden needs water access",
    "body": "Our neighbourhood food garden has no tap; volunteers carry water 400 m. "
            "A rain tank and a shared hose line would help food security for 60 families.",
    "domain": "food_security",
}
FORBIDDEN = {
    "kind": "solution", "title": "Neighbourhood safety",
    "body": "Install hidden cameras for covert surveillance of every resident and sell guns at the gate.",
}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def set_flags(**values: Any) -> None:
    with transaction() as conn:
        for name, value in values.items():
            flags_repo.set_flag(conn, name, value, actor="test", reason="economy test")
    flags_repo.invalidate()


def balance(agent_id: str | UUID) -> int:
    with transaction() as conn:
        return ledger_repo.balance_of(conn, agent_account(agent_id))


def bring_balance_to(agent_id: str, target: int) -> None:
    """Move the agent's balance to `target` millicredits through the ledger (an adjustment entry)."""
    current = balance(agent_id)
    with transaction() as conn:
        if current > target:
            legs = transfer(agent_account(agent_id), SINK, current - target)
        else:
            legs = transfer(FAUCET, agent_account(agent_id), target - current)
        ledger_repo.post_entry(conn, idempotency_key=f"adjust:{uuid4()}", kind="adjustment", legs=legs)


def rows(db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def entries_for(db: str, agent_id: str) -> list[tuple[str, str]]:
    """(kind, key) of the submission-related journal entries of the agent's submissions."""
    return rows(db, "SELECT e.kind, e.idempotency_key FROM journal_entries e"
                    " JOIN submissions s ON e.idempotency_key = 'submission:' || s.id"
                    " WHERE s.agent_id = %s ORDER BY e.id", UUID(agent_id))


# --- submission costs ----------------------------------------------------------------------------

def test_with_costs_off_submitting_is_free_and_writes_no_journal_entry(api: Api, db: str) -> None:
    key, agent = api.register("free")
    created = api.post("/v1/submissions", key=key, body=SUBMISSION)
    assert created.status == 201 and created.data["cost"] == {"credits": "0.000", "millicredits": 0}
    assert balance(agent["id"]) == 50_000
    assert entries_for(db, agent["id"]) == []


@pytest.mark.parametrize(("kind", "multiplier", "cost"), [
    ("problem", 1.0, 2_000), ("solution", 1.0, 5_000), ("debate", 1.0, 1_000),
    ("debate", 1.5, 1_500), ("solution", 0.1, 1_000), ("problem", 2.5, 5_000),
])
def test_a_submission_pays_its_kind_times_the_multiplier_exactly(
    api: Api, db: str, kind: str, multiplier: float, cost: int
) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True, SUBMISSION_COST_MULTIPLIER=multiplier)
    key, agent = api.register("payer")
    created = api.post("/v1/submissions", key=key, body={**SUBMISSION, "kind": kind})
    assert created.status == 201
    assert created.data["cost"]["millicredits"] == cost
    assert balance(agent["id"]) == 50_000 - cost
    assert rows(db, "SELECT cost_millicredits FROM submissions") == [(cost,)]
    assert entries_for(db, agent["id"]) == [("submission_fee", f"submission:{created.data['id']}")]
    history = api.get("/v1/credits", key=key).data["history"]
    assert history[0]["kind"] == "submission_fee" and history[0]["amount"]["millicredits"] == -cost
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []


def test_defect_6_the_charge_commits_in_the_same_transaction_as_the_submission(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, _ = api.register("atomic")
    sub_id = api.post("/v1/submissions", key=key, body=SUBMISSION).data["id"]
    [(submission_xid,)] = rows(db, "SELECT xmin::text FROM submissions WHERE id = %s", UUID(sub_id))
    [(entry_xid,)] = rows(db, "SELECT xmin::text FROM journal_entries WHERE idempotency_key = %s",
                          f"submission:{sub_id}")
    [(outbox_xid,)] = rows(db, "SELECT xmin::text FROM outbox")
    assert submission_xid == entry_xid == outbox_xid


def test_defect_6_when_the_submission_cannot_be_stored_the_charge_rolls_back(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("unlucky")
    with psycopg.connect(db, autocommit=True) as conn:
        # The submission row fails at commit, after the charge was written in the same transaction.
        conn.execute("CREATE FUNCTION refuse_submission() RETURNS trigger LANGUAGE plpgsql AS $$"
                     " BEGIN RAISE EXCEPTION 'submission refused' USING ERRCODE = 'check_violation'; END $$")
        conn.execute("CREATE CONSTRAINT TRIGGER refuse_submission AFTER INSERT ON submissions"
                      " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_submission()")
    try:
        answer = api.post("/v1/submissions", key=key, body=SUBMISSION)
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("DROP TRIGGER refuse_submission ON submissions")
            conn.execute("DROP FUNCTION refuse_submission()")
    assert answer.status == 500
    assert balance(agent["id"]) == 50_000
    assert rows(db, "SELECT count(*) FROM submissions") == [(0,)]
    assert rows(db, "SELECT count(*) FROM journal_entries WHERE kind = 'submission_fee'") == [(0,)]
    assert rows(db, "SELECT count(*) FROM outbox") == [(0,)]


def test_insufficient_credits_is_403_and_nothing_is_written(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True, SUBMISSION_COST_MULTIPLIER=3)
    key, agent = api.register("short")
    bring_balance_to(agent["id"], 10_000)  # not in hardship, but a solution now costs 15
    answer = api.post("/v1/submissions", key=key, body={**SUBMISSION, "kind": "solution"})
    assert answer.status == 403 and answer.error["code"] == "INSUFFICIENT_CREDITS"
    assert answer.error["details"] == {"balance": 10_000, "required": 15_000}
    assert balance(agent["id"]) == 10_000
    assert rows(db, "SELECT count(*) FROM submissions") == [(0,)]
    assert rows(db, "SELECT count(*) FROM decision_trail") == [(0,)]
    assert rows(db, "SELECT count(*) FROM outbox") == [(0,)]
    assert entries_for(db, agent["id"]) == []


def test_an_agent_in_hardship_submits_free_and_the_journal_says_so(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("poor")
    bring_balance_to(agent["id"], 9_999)
    created = api.post("/v1/submissions", key=key, body={**SUBMISSION, "kind": "solution"})
    assert created.status == 201 and created.data["cost"]["millicredits"] == 0
    assert balance(agent["id"]) == 9_999
    [(kind, memo)] = rows(db, "SELECT kind, memo FROM journal_entries WHERE idempotency_key = %s",
                          f"submission:{created.data['id']}")
    assert kind == "hardship_waiver"
    assert memo["waived"] == 5_000 and memo["balance"] == 9_999 and memo["agent_id"] == agent["id"]
    assert rows(db, "SELECT count(*) FROM journal_legs l JOIN journal_entries e ON e.id = l.entry_id"
                    " WHERE e.kind = 'hardship_waiver'") == [(0,)]
    waiver = api.get("/v1/credits", key=key).data
    assert waiver["balance"]["millicredits"] == 9_999


def test_at_exactly_ten_credits_the_agent_pays(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("boundary")
    bring_balance_to(agent["id"], 10_000)
    created = api.post("/v1/submissions", key=key, body={**SUBMISSION, "kind": "solution"})
    assert created.data["cost"]["millicredits"] == 5_000
    assert balance(agent["id"]) == 5_000
    # ... and the next one, now in hardship, is free.
    again = api.post("/v1/submissions", key=key, body={**SUBMISSION, "kind": "solution", "title": "Second"})
    assert again.data["cost"]["millicredits"] == 0 and balance(agent["id"]) == 5_000


def test_a_retried_post_with_the_same_idempotency_key_is_charged_once(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("retrier")
    headers = {"Idempotency-Key": "retry-1"}
    first = api.post("/v1/submissions", key=key, body=SUBMISSION, headers=headers)
    second = api.post("/v1/submissions", key=key, body=SUBMISSION, headers=headers)
    assert first.status == second.status == 201
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.data["id"] == first.data["id"] and second.data["cost"]["millicredits"] == 2_000
    assert balance(agent["id"]) == 48_000
    assert len(entries_for(db, agent["id"])) == 1


def test_a_layer_a_rejection_charges_nothing(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("shady")
    answer = api.post("/v1/submissions", key=key, body=FORBIDDEN)
    assert answer.status == 422 and answer.error["code"] == "GUARDRAIL_REJECTED"
    assert balance(agent["id"]) == 50_000
    assert rows(db, "SELECT status, cost_millicredits FROM submissions") == [("rejected", 0)]
    assert entries_for(db, agent["id"]) == []


# --- validation rewards --------------------------------------------------------------------------

def new_agent(api: Api, name: str = "validator") -> str:
    _, agent = api.register(name)
    return str(agent["id"])


def pay(evaluation_id: UUID, validator: str, tier: str, in_time: bool = True) -> int:
    with bootstrap.unit_of_work() as uow:
        return economy_service.pay_validation_reward(uow, evaluation_id=evaluation_id, validator_agent_id=validator,
                                                     tier_at_assignment=tier,
            answered_in_time=in_time)


@pytest.mark.parametrize(("tier", "multiplier", "reward"), [
    ("apprentice", 1.0, 500), ("journeyman", 1.0, 750), ("expert", 1.0, 1_000),
    ("apprentice", 1.5, 750), ("journeyman", 2.0, 1_500), ("expert", 0.25, 250),
])
def test_a_timely_evaluation_is_rewarded_by_tier_once(
    api: Api, db: str, tier: str, multiplier: float, reward: int
) -> None:
    set_flags(VALIDATION_REWARDS_ENABLED=True, VALIDATION_REWARD_MULTIPLIER=multiplier)
    validator = new_agent(api)
    evaluation = uuid4()
    assert pay(evaluation, validator, tier) == reward
    assert pay(evaluation, validator, tier) == reward  # the same evaluation again: reported, not paid
    set_flags(VALIDATION_REWARD_MULTIPLIER=5)
    assert pay(evaluation, validator, tier) == reward  # what was paid, whatever the multiplier now
    assert balance(validator) == 50_000 + reward
    assert rows(db, "SELECT kind, memo->>'tier' FROM journal_entries WHERE idempotency_key = %s",
                f"validation:{evaluation}") == [("validation_reward", tier)]


def test_defect_5_a_half_credit_reward_is_stored_and_shown_exactly(api: Api, db: str) -> None:
    set_flags(VALIDATION_REWARDS_ENABLED=True)
    key, agent = api.register("apprentice")
    evaluation = uuid4()
    assert pay(evaluation, agent["id"], "apprentice") == 500
    assert rows(db, "SELECT l.amount, l.balance_after FROM journal_legs l JOIN journal_entries e ON e.id = l.entry_id"
                    " WHERE e.idempotency_key = %s AND l.amount > 0", f"validation:{evaluation}") == [(500, 50_500)]
    credits = api.get("/v1/credits", key=key).data
    assert credits["balance"] == {"credits": "50.500", "millicredits": 50_500}
    assert credits["history"][0]["amount"] == {"credits": "0.500", "millicredits": 500}


def test_late_answers_and_disabled_rewards_pay_nothing_and_write_nothing(api: Api, db: str) -> None:
    validator = new_agent(api)
    assert pay(uuid4(), validator, "expert") == 0  # rewards are off by default
    set_flags(VALIDATION_REWARDS_ENABLED=True)
    assert pay(uuid4(), validator, "expert", in_time=False) == 0
    set_flags(VALIDATION_REWARD_MULTIPLIER=0)
    assert pay(uuid4(), validator, "expert") == 0
    assert balance(validator) == 50_000
    assert rows(db, "SELECT count(*) FROM journal_entries WHERE kind = 'validation_reward'") == [(0,)]
    with pytest.raises(ValueError, match="tier"):
        pay(uuid4(), validator, "grandmaster")


# --- economic health (defect 12) -------------------------------------------------------------------

def backdate(db: str, when: datetime, from_code: str, to_code: str, *, amount: int, kind: str) -> None:
    """A balanced entry dated `when` (post_entry always dates entries now)."""
    with psycopg.connect(db) as conn:
        found = conn.execute("SELECT code, id FROM accounts WHERE code = ANY(%s)", ([from_code, to_code],))
        ids: dict[str, int] = dict(found.fetchall())
        entry = conn.execute("INSERT INTO journal_entries (idempotency_key, kind, created_at) VALUES (%s, %s, %s)"
                             " RETURNING id", (f"backdated:{uuid4()}", kind, when)).fetchone()[0]  # type: ignore[index]
        for code, delta in ((from_code, -amount), (to_code, amount)):
            before = conn.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s"
                                  " RETURNING balance - %s", (delta, ids[code], delta)).fetchone()[0]  # type: ignore[index]
            conn.execute("INSERT INTO journal_legs (entry_id, account_id, amount, balance_before, balance_after,"
                         " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                         (entry, ids[code], delta, before, before + delta, when))


def fee_time(db: str) -> datetime:
    """When the (only) submission fee was journaled: snapshot windows are chosen around it, so that
    a test running across an hour boundary still finds the fee in the window it snapshots."""
    [(when,)] = rows(db, "SELECT created_at FROM journal_entries WHERE kind = 'submission_fee'")
    return when  # type: ignore[no-any-return]


def health(start: datetime, end: datetime) -> economy_service.HealthReport:
    with bootstrap.unit_of_work() as uow:
        return economy_service.economy_health(uow, window_start=start, window_end=end)


def test_defect_12_starter_grants_are_not_faucet_and_only_agents_that_moved_are_active(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True, VALIDATION_REWARDS_ENABLED=True)
    start = datetime.now(UTC) - timedelta(seconds=1)
    keys = [api.register(f"agent-{i}") for i in range(5)]
    api.register("a human", kind="human")
    api.post("/v1/submissions", key=keys[0][0], body=SUBMISSION)  # a fee of 2
    pay(uuid4(), keys[1][1]["id"], "journeyman")  # a reward of 0.75
    report = health(start, datetime.now(UTC) + timedelta(seconds=1))
    f = report.figures
    assert f.starter_grants == 6 * 50_000  # every registration, reported apart ...
    assert f.faucet == 750  # ... and never as faucet
    assert f.sink == 2_000
    assert f.active_agents == 2  # registering is not activity; humans are not agents
    assert f.agents_total == 5
    assert f.ratio_state == "defined" and f.ratio == Fraction(750, 2_000)
    assert f.median_balance == 50_000 and f.hardship_agents == 0
    assert [a.rule for a in report.alerts] == ["economy_ratio_out_of_band"]


def test_an_agent_submitting_free_in_hardship_is_active_and_counted_in_hardship(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, poor = api.register("poor")
    for i in range(3):
        api.register(f"rich-{i}")
    bring_balance_to(poor["id"], 2_000)
    start = datetime.now(UTC)
    api.post("/v1/submissions", key=key, body=SUBMISSION)
    report = health(start, datetime.now(UTC) + timedelta(seconds=1))
    assert report.figures.active_agents == 1
    assert (report.figures.hardship_agents, report.figures.agents_total) == (1, 4)
    assert report.figures.ratio_state == "idle" and report.figures.ratio is None
    assert [a.rule for a in report.alerts] == ["economy_hardship_rate"]  # 25 % > 15 %
    assert report.figures.median_balance == 50_000  # lower median of 2, 50, 50, 50


def test_a_window_sees_the_balances_as_they_were_at_its_end(api: Api, db: str) -> None:
    _, agent = api.register("spender")
    end = datetime.now(UTC)
    bring_balance_to(agent["id"], 1_000)  # after the window: not hardship at its end
    report = health(end - timedelta(hours=1), end)
    assert report.figures.hardship_agents == 0 and report.figures.median_balance == 50_000
    assert report.circulating == 50_000
    assert health(end, datetime.now(UTC) + timedelta(seconds=1)).figures.hardship_agents == 1


def test_ratio_below_half_three_days_running_raises_a_critical_alert(api: Api, db: str) -> None:
    _, agent = api.register("old-timer")
    account = agent_account(agent["id"])
    now = datetime.now(UTC)
    for days_ago in (2.5, 1.5, 0.5):
        when = now - timedelta(days=days_ago)
        backdate(db, when, account, SINK, amount=1_000, kind="submission_fee")
        backdate(db, when, FAUCET, account, amount=400, kind="validation_reward")
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []
    report = health(now - timedelta(hours=1), now)
    assert "economy_ratio_low_3_days" in [a.rule for a in report.alerts]
    # 0.6 on the middle day breaks the run
    backdate(db, now - timedelta(days=1.2), FAUCET, account, amount=200, kind="validation_reward")
    assert "economy_ratio_low_3_days" not in [a.rule for a in health(now - timedelta(hours=1), now).alerts]


def test_the_hourly_snapshot_is_stored_once_per_window_and_raises_its_alerts_once(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("lonely")
    api.post("/v1/submissions", key=key, body=SUBMISSION)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO validators (agent_id) VALUES (%s)", (UUID(agent["id"]),))
    # One minute into the hour after the fee's, so that five minutes later is still the same window.
    next_hour = fee_time(db).replace(minute=1, second=0, microsecond=0) + timedelta(hours=1)
    first = economy_service.snapshot_economy(bootstrap.unit_of_work(), now=next_hour)
    again = economy_service.snapshot_economy(bootstrap.unit_of_work(), now=next_hour + timedelta(minutes=5))
    assert again["id"] == first["id"]
    assert first["window_end"] - first["window_start"] == timedelta(hours=1)
    assert first["window_end"] == next_hour.replace(minute=0, second=0, microsecond=0)
    assert (first["sink"], first["faucet"], first["ratio"], first["ratio_state"]) == (2_000, 0, 0, "defined")
    assert first["active_agents"] == 1 and first["total_validators"] == 1
    assert [a["rule"] for a in first["alerts"]] == ["economy_ratio_out_of_band"]
    assert rows(db, "SELECT rule, severity, occurrences, status FROM alerts") == [
        ("economy_ratio_out_of_band", "warning", 1, "open")]
    # The next hour nothing moves: an idle window has no ratio and raises nothing.
    later = economy_service.snapshot_economy(bootstrap.unit_of_work(), now=next_hour + timedelta(hours=1))
    assert (later["ratio"], later["ratio_state"], later["alerts"]) == (None, "idle", [])
    assert rows(db, "SELECT count(*), max(occurrences) FROM alerts") == [(1, 1)]


# --- alerts ------------------------------------------------------------------------------------------

def test_alerts_are_deduplicated_while_open_and_for_an_hour_after_resolution(db: str) -> None:
    t0 = datetime.now(UTC)

    def raise_at(when: datetime, severity: str = "warning") -> RaisedAlert:
        with transaction() as conn:
            return alerts_repo.raise_alert(conn, rule="economy_hardship_rate", severity=severity, title="t",
                                           details={"at": when.isoformat()}, now=when)

    first = raise_at(t0)
    repeat = raise_at(t0 + timedelta(minutes=10), severity="critical")
    assert first.created and not repeat.created and repeat.id == first.id
    assert rows(db, "SELECT severity, occurrences, last_seen_at = %s FROM alerts",
                t0 + timedelta(minutes=10)) == [("critical", 2, True)]
    with transaction() as conn:
        assert alerts_repo.resolve(conn, first.id, now=t0 + timedelta(minutes=20))
    assert raise_at(t0 + timedelta(minutes=50)).id == first.id  # resolved 30 min ago: still quiet
    reopened = raise_at(t0 + timedelta(minutes=90))  # resolved 70 min ago: a new alert
    assert reopened.created and reopened.id != first.id
    assert rows(db, "SELECT status, count(*) FROM alerts GROUP BY 1 ORDER BY 1") == [("open", 1), ("resolved", 1)]


# --- admin routes ---------------------------------------------------------------------------------

def test_operators_read_the_economy_latest_fresh_and_history(api: Api, db: str) -> None:
    admin = admin_key()
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, _ = api.register("busy")
    assert api.get("/v1/admin/economy", key=admin).data["latest"] is None
    api.post("/v1/submissions", key=key, body=SUBMISSION)
    economy_service.snapshot_economy(bootstrap.unit_of_work(), now=fee_time(db) + timedelta(hours=1))
    data = api.get("/v1/admin/economy?window_hours=2&days=3", key=admin).data
    assert data["latest"]["sink"] == {"credits": "2.000", "millicredits": 2_000}
    assert data["latest"]["ratio"] == 0.0 and data["latest"]["ratio_state"] == "defined"
    assert [h["id"] for h in data["history"]] == [data["latest"]["id"]]
    current = data["current"]
    assert current["sink"]["millicredits"] == 2_000 and current["starter_grants"]["millicredits"] == 50_000
    assert current["faucet"]["millicredits"] == 0 and current["active_agents"] == 1
    assert current["alerts"] == [{"rule": "economy_ratio_out_of_band", "severity": "warning",
                                  "title": "Faucet/sink ratio outside 0.70-1.30"}]
    assert api.get("/v1/admin/economy?window_hours=0", key=admin).status == 400
    assert api.get("/v1/admin/economy?window_hours=721", key=admin).status == 400
    assert api.get("/v1/admin/economy", key=key).status == 403


def test_operators_verify_the_ledger(api: Api, db: str) -> None:
    admin = admin_key()
    key, agent = api.register("checked")
    checked = 1 + 1 + 16 + 1  # the faucet, the sink of old, its 16 shards, the agent
    clean = api.get("/v1/admin/ledger/verify", key=admin).data
    assert (clean["accounts_checked"], clean["mismatches"], clean["complete"]) == (checked, [], True)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE accounts SET balance = balance - 1 WHERE agent_id = %s", (UUID(agent["id"]),))
    report = api.get("/v1/admin/ledger/verify", key=admin).data
    assert report["mismatches"] == [{"account": agent_account(agent["id"]), "stored": 49_999, "rebuilt": 50_000}]
    assert api.get("/v1/admin/ledger/verify", key=key).status == 403


def test_spending_more_than_the_balance_directly_raises_with_details(api: Api) -> None:
    validator = new_agent(api)
    with pytest.raises(InsufficientCredits) as info, transaction() as conn:
        ledger_repo.post_entry(conn, idempotency_key="too-much", kind="x",
                               legs=transfer(agent_account(validator), SINK, 50_001))
    assert info.value.details == {"balance": 50_000, "required": 50_001}


def test_concurrent_submissions_and_other_fees_of_one_agent_neither_deadlock_nor_overdraw(
    api: Api, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from chalicelib.domain.principal import Principal
    from chalicelib.services.submissions import SubmissionDraft, submit_content

    locked = ledger_repo.lock_balances

    def slow_lock(conn: Any, codes: Any) -> dict[str, int]:  # widen the window between lock and debit
        found = locked(conn, codes)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(ledger_repo, "lock_balances", slow_lock)
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    _, agent = api.register("rushed")
    principal = Principal(key_id=uuid4(), role="agent", agent_id=UUID(agent["id"]), owner_id=None,
                          agent_kind="agent")
    account = agent_account(agent["id"])
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def submitter(i: int) -> None:
        barrier.wait()
        try:
            for j in range(3):
                draft = SubmissionDraft(kind="problem", title=f"Water access {i}-{j}", body=SUBMISSION["body"])
                submit_content(bootstrap.unit_of_work(), principal, draft)
        except BaseException as exc:
            errors.append(exc)

    submitted = threading.Event()

    def other_fees(i: int) -> None:  # the same account and the sink, moved outside submissions meanwhile
        barrier.wait()
        try:
            for j in range(300):
                if submitted.is_set():
                    break
                with transaction() as conn:
                    ledger_repo.post_entry(conn, idempotency_key=f"other:{i}:{j}", kind="other_fee",
                                           legs=transfer(account, SINK, 10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submitter if i % 2 else other_fees, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads[1::2]:
        t.join(timeout=60)
    submitted.set()
    for t in threads[::2]:
        t.join(timeout=60)
    assert errors == []
    [(others,)] = rows(db, "SELECT count(*) FROM journal_entries WHERE kind = 'other_fee'")
    assert others > 0
    assert balance(agent["id"]) == 50_000 - 12 * 2_000 - others * 10
    assert rows(db, "SELECT count(*), sum(cost_millicredits) FROM submissions") == [(12, 24_000)]
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []


# --- the sharded sink ----------------------------------------------------------------------------

def test_fees_land_in_the_sink_shard_of_their_key_and_every_reader_counts_all_shards(api: Api, db: str) -> None:
    # Given fees on, an old-style fee already in the one sink of old, and agents submitting
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    start = datetime.now(UTC) - timedelta(seconds=1)
    key, agent = api.register("author")
    with transaction() as conn:
        ledger_repo.post_entry(conn, idempotency_key="old-fee", kind="submission_fee",
                               legs=transfer(agent_account(agent["id"]), SINK, 1_000))
    ids = [api.post("/v1/submissions", key=key, body={**SUBMISSION, "title": f"Water access {i}"}).data["id"]
           for i in range(6)]
    # Then each fee went to the shard its key picks, none to the old account
    credited = dict(rows(db, "SELECT e.idempotency_key, a.code FROM journal_legs l"
                             " JOIN journal_entries e ON e.id = l.entry_id JOIN accounts a ON a.id = l.account_id"
                             " WHERE e.kind = 'submission_fee' AND l.amount > 0"))
    assert credited == {"old-fee": SINK} | {f"submission:{i}": sink_for(f"submission:{i}") for i in ids}
    # And the sink's balance, the window's flows and the ledger's check see the old account plus the shards
    with bootstrap.unit_of_work() as uow:
        assert uow.ledger.sink_balance() == 1_000 + 6 * 2_000
        assert uow.ledger.balance_of(SINK) == 1_000
    assert health(start, datetime.now(UTC) + timedelta(seconds=1)).figures.sink == 1_000 + 6 * 2_000
    [(total,)] = rows(db, "SELECT sum(balance) FROM accounts")
    assert total == 0  # credits are conserved: what left the faucet is in agents and sinks
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []
