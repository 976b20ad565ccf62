"""The ledger under random and concurrent use: it always balances, never overdraws an agent, and
no idempotency key ever moves money twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from psycopg.rows import dict_row

from chalicelib import bootstrap
from chalicelib.adapters import flags_repo, ledger_repo
from chalicelib.db.pool import transaction
from chalicelib.domain import economy
from chalicelib.domain.errors import InsufficientCredits
from chalicelib.domain.ledger import FAUCET, SINK, Leg, PostedEntry, agent_account, transfer
from chalicelib.domain.money import STARTER_GRANT
from chalicelib.services import agents as agent_service
from chalicelib.services import economy as economy_service
from chalicelib.services.credits import verify_ledger


def register(name: str) -> tuple[str, str]:
    """A new agent: (agent id, account code)."""
    agent_id = str(agent_service.register_agent(bootstrap.unit_of_work(), kind="agent", name=name, description="",
                                                caller=None).agent["id"])
    return agent_id, agent_account(agent_id)


def post(key: str, legs: list[Leg], kind: str = "test") -> PostedEntry:
    with transaction() as conn:
        return ledger_repo.post_entry(conn, idempotency_key=key, kind=kind, legs=legs)


def run_in_threads(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs at once (a barrier releases them together); returns results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


class LedgerMachine(RuleBasedStateMachine):
    """A model of balances beside the real ledger: grants, spends, transfers, rewards, retries with
    the same key and bursts of concurrent spends; after every step the books are checked."""

    agents = Bundle("agents")

    def __init__(self) -> None:
        super().__init__()
        self.run = uuid4().hex[:10]
        self.n = 0
        self.model: dict[str, int] = {}
        self.posted: dict[str, list[Leg]] = {}  # key -> the legs it moved (only keys that moved money)
        with transaction() as conn:
            self.model[FAUCET] = ledger_repo.balance_of(conn, FAUCET)
            self.model[SINK] = ledger_repo.balance_of(conn, SINK)

    def key(self) -> str:
        self.n += 1
        return f"sm:{self.run}:{self.n}"

    def apply(self, key: str, legs: list[Leg]) -> None:
        self.posted[key] = legs
        for leg in legs:
            self.model[leg.account_code] += leg.amount

    @initialize(target=agents)
    def three_agents(self) -> Any:
        codes = [register(f"sm-{i}")[1] for i in range(3)]
        for code in codes:
            self.model[code] = STARTER_GRANT
            self.model[FAUCET] -= STARTER_GRANT
        return multiple(*codes)

    @rule(agent=agents, amount=st.integers(1, 20_000))
    def grant(self, agent: str, amount: int) -> None:
        key, legs = self.key(), transfer(FAUCET, agent, amount)
        assert post(key, legs).created
        self.apply(key, legs)

    @rule(agent=agents, amount=st.integers(1, 40_000))
    def spend(self, agent: str, amount: int) -> None:
        key, legs = self.key(), transfer(agent, SINK, amount)
        if self.model[agent] >= amount:
            assert post(key, legs).created
            self.apply(key, legs)
        else:
            with pytest.raises(InsufficientCredits):
                post(key, legs)

    @rule(source=agents, payee=agents, amount=st.integers(1, 30_000))
    def move(self, source: str, payee: str, amount: int) -> None:
        assume(source != payee)
        key, legs = self.key(), transfer(source, payee, amount)
        if self.model[source] >= amount:
            assert post(key, legs).created
            self.apply(key, legs)
        else:
            with pytest.raises(InsufficientCredits):
                post(key, legs)

    @rule(agent=agents, tier=st.sampled_from(sorted(economy.BASE_REWARD)), repeat=st.booleans())
    def reward(self, agent: str, tier: str, repeat: bool) -> None:
        evaluation = uuid4()
        expected = economy.validation_reward(tier, 1.0)
        for _ in range(2 if repeat else 1):
            with bootstrap.unit_of_work() as uow:
                paid = economy_service.pay_validation_reward(uow, evaluation_id=evaluation,
                                                             validator_agent_id=agent.removeprefix("agent:"),
                    tier_at_assignment=tier, answered_in_time=True)
            assert paid == expected
        self.apply(f"validation:{evaluation}", transfer(FAUCET, agent, expected))

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data(), other_amount=st.integers(1, 5_000))
    def retry(self, data: st.DataObject, other_amount: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.posted)))
        legs = self.posted[key]
        again = post(key, legs)
        assert not again.created
        # The same key with different legs is still the first movement: nothing moves.
        source = next(leg.account_code for leg in legs if leg.amount < 0)
        target = next(leg.account_code for leg in legs if leg.amount > 0)
        assert not post(key, transfer(source, target, other_amount)).created

    @rule(agent=agents, threads=st.integers(2, 6), amount=st.integers(1_000, 30_000), distinct=st.integers(1, 6))
    def concurrent_spends(self, agent: str, threads: int, amount: int, distinct: int) -> None:
        keys = [f"sm:{self.run}:burst:{self.n}:{i % distinct}" for i in range(threads)]
        self.n += 1
        results = run_in_threads([partial(post, k, transfer(agent, SINK, amount)) for k in keys])
        assert all(isinstance(r, PostedEntry | InsufficientCredits) for r in results), results
        moved_keys = {r.idempotency_key for r in results if isinstance(r, PostedEntry) and r.created}
        created = [r for r in results if isinstance(r, PostedEntry) and r.created]
        assert len(created) == len(moved_keys)  # one movement per key, whoever won the race
        assert len(moved_keys) == min(len(set(keys)), self.model[agent] // amount)
        for k in sorted(moved_keys):
            self.apply(k, transfer(agent, SINK, amount))

    @invariant()
    def books_rebuild_and_match_the_model(self) -> None:
        assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []
        with transaction() as conn:
            stored = {r["code"]: int(r["balance"]) for r in conn.execute(
                "SELECT code, balance FROM accounts WHERE code = ANY(%s)", (list(self.model),))}
        assert stored == self.model
        assert all(v >= 0 for code, v in stored.items() if code.startswith("agent:"))

    @invariant()
    def every_key_moved_its_money_exactly_once(self) -> None:
        with transaction() as conn:
            found = conn.execute(
                "SELECT e.idempotency_key AS key, array_agg(a.code ORDER BY a.code) AS codes,"
                " array_agg(l.amount ORDER BY a.code) AS amounts"
                " FROM journal_entries e JOIN journal_legs l ON l.entry_id = e.id"
                " JOIN accounts a ON a.id = l.account_id"
                " WHERE e.idempotency_key LIKE %s OR e.idempotency_key = ANY(%s) GROUP BY e.id",
                (f"sm:{self.run}:%", [k for k in self.posted if k.startswith("validation:")]),
            ).fetchall()
        actual = {r["key"]: sorted(zip(r["codes"], r["amounts"], strict=True)) for r in found}
        expected = {k: sorted((leg.account_code, leg.amount) for leg in legs) for k, legs in self.posted.items()}
        assert actual == expected


def test_the_ledger_state_machine(db: str) -> None:
    with transaction() as conn:
        flags_repo.set_flag(conn, "VALIDATION_REWARDS_ENABLED", True, actor="test", reason="state machine")
    flags_repo.invalidate()
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=30, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))


# --- concurrency ----------------------------------------------------------------------------------

def test_200_concurrent_spends_from_several_connections_never_overdraw_and_add_up(db: str) -> None:
    _, account = register("hot")
    amount, workers, per_worker = 300, 8, 25  # 200 spends of 0.3 credits against 50 credits
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(w: int) -> None:
        with psycopg.connect(db, row_factory=dict_row) as conn:
            for i in range(per_worker):
                try:
                    with conn.transaction():
                        ledger_repo.post_entry(conn, idempotency_key=f"spend:{w}:{i}", kind="spend",
                                               legs=transfer(account, SINK, amount))
                    result = "ok"
                except InsufficientCredits:
                    result = "insufficient"
                with lock:
                    outcomes[result] += 1

    errors = [r for r in run_in_threads([partial(worker, w) for w in range(workers)]) if r is not None]
    assert errors == []
    expected_ok = STARTER_GRANT // amount  # 166
    assert outcomes == {"ok": expected_ok, "insufficient": workers * per_worker - expected_ok}
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, account) == STARTER_GRANT - expected_ok * amount == 200
        assert ledger_repo.balance_of(conn, SINK) == expected_ok * amount
        afters = [int(r["balance_after"]) for r in conn.execute(
            "SELECT l.balance_after FROM journal_legs l JOIN accounts a ON a.id = l.account_id"
            " WHERE a.code = %s AND l.amount < 0 ORDER BY l.id", (account,))]
    assert afters == [STARTER_GRANT - amount * (i + 1) for i in range(expected_ok)]  # one unbroken chain
    assert min(afters) >= 0
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []


def test_one_key_posted_from_many_connections_at_once_moves_money_once(db: str) -> None:
    _, account = register("racer")
    results = run_in_threads([lambda: post("race:1", transfer(account, SINK, 1_000)) for _ in range(12)])
    assert all(isinstance(r, PostedEntry) for r in results), results
    assert sum(r.created for r in results) == 1
    assert len({r.entry_id for r in results}) == 1
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, account) == STARTER_GRANT - 1_000


def test_transfers_in_both_directions_at_once_do_not_deadlock(db: str) -> None:
    _, a = register("a")
    _, b = register("b")

    def worker(w: int) -> None:
        for i in range(15):
            source, target = (a, b) if (w + i) % 2 else (b, a)
            post(f"swap:{w}:{i}", transfer(source, target, 10))

    assert [r for r in run_in_threads([partial(worker, w) for w in range(8)]) if r is not None] == []
    with transaction() as conn:
        assert ledger_repo.balance_of(conn, a) + ledger_repo.balance_of(conn, b) == 2 * STARTER_GRANT
    assert verify_ledger(bootstrap.unit_of_work())["mismatches"] == []
