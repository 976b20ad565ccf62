"""The peer path under Lambda-like concurrency: many consumers per queue, every message delivered twice.

The local dispatcher runs eight consumers per queue and delivers every batch twice, the copy
concurrently and in reverse order (at-least-once, unordered delivery at its worst). Whatever the
interleaving, each submission is screened once, decided once, and each answered evaluation is paid
once; the ledger verifies clean.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.peer_support import GOOD, PeerWorld, rows, world_fixture  # noqa: F401

SUBMISSIONS = 10
DEADLINE_S = 180.0  # a liveness bound (the stages retry), not a timing assertion


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


@pytest.fixture(name="consumers")
def consumers_fixture(world: PeerWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Eight consumers per queue behind a sender that delivers everything twice."""
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from local.dispatcher import Dispatcher, DuplicatingSender
    from local.handlers import local_handlers

    monkeypatch.setenv("DB_POOL_MAX_SIZE", "40")  # 8 consumers x 4 queues, each copy on its own connection
    reset_settings()
    close_pool()
    sender = DuplicatingSender(local_handlers())
    bootstrap.install_sender(sender)
    dispatcher = Dispatcher(sender, consumers=8, idle_sleep_s=0.01, max_idle_sleep_s=0.05)
    dispatcher.start()
    try:
        yield
    finally:
        dispatcher.stopped.set()
        dispatcher.join(timeout=60)
        bootstrap.install_sender(None)


def test_eight_consumers_and_every_message_twice_decide_once_and_pay_each_answer_once(
    world: PeerWorld, consumers: None
) -> None:
    assert world.set_flag("VALIDATION_REWARDS_ENABLED", True).status == 200
    world.add_validators(10)
    world.peer_traffic(100)
    # One author per submission: validators who reviewed an author lately are kept off its next ones.
    authors = [world.api.register(f"author-{n}")[0] for n in range(SUBMISSIONS)]
    subs = [world.submit({**GOOD, "title": f"{GOOD['title']} {n}"}, key=key, drain=False)
            for n, key in enumerate(authors)]

    def assigned(sub_id: str) -> bool:
        return bool(rows(world.db, "SELECT 1 FROM evaluations WHERE submission_id = %s", sub_id))

    wait_until(lambda: all(assigned(s) for s in subs), "every submission routed to peers and assigned")
    for sub_id in subs:
        world.vote(sub_id, ["approve", "approve", "approve"])

    def decided() -> bool:
        return not rows(world.db, "SELECT 1 FROM submissions WHERE id = ANY(%s::uuid[]) AND status = 'pending'", subs)

    wait_until(decided, "every submission decided")
    wait_until(lambda: not rows(world.db, "SELECT 1 FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"),
               "the outbox drained")

    trail = rows(world.db, "SELECT submission_id::text, stage, count(*) FROM decision_trail"
                 " WHERE submission_id = ANY(%s::uuid[]) GROUP BY 1, 2", subs)
    per_stage: dict[str, list[int]] = {}
    for _, stage, n in trail:
        per_stage.setdefault(stage, []).append(int(n))
    for stage in ("layer_a", "layer_b", "routing", "consensus"):
        assert per_stage.get(stage) == [1] * SUBMISSIONS, (stage, per_stage.get(stage))
    assert rows(world.db, "SELECT status, decided_by, count(*) FROM submissions WHERE id = ANY(%s::uuid[])"
                " GROUP BY 1, 2", subs) == [("approved", "peer", SUBMISSIONS)]
    assert rows(world.db, "SELECT count(*) FROM consensus_decisions WHERE submission_id = ANY(%s::uuid[])"
                " AND status = 'decided'", subs) == [(SUBMISSIONS,)]

    answered = rows(world.db, "SELECT id FROM evaluations WHERE submission_id = ANY(%s::uuid[])"
                    " AND status = 'answered'", subs)
    assert len(answered) == 3 * SUBMISSIONS
    rewards = rows(world.db, "SELECT e.id, count(j.id) FROM evaluations e"
                   " LEFT JOIN journal_entries j ON j.idempotency_key = 'validation:' || e.id"
                   " AND j.kind = 'validation_reward' WHERE e.submission_id = ANY(%s::uuid[])"
                   " GROUP BY e.id, e.status HAVING count(j.id) <> (e.status = 'answered')::int", subs)
    assert rewards == []  # exactly one reward per answered evaluation, none for the others
    assert rows(world.db, "SELECT count(*) FROM processed_messages WHERE consumer = 'consensus'") == [(SUBMISSIONS,)]

    from chalicelib.adapters import ledger_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = ledger_repo.verify(conn)
    assert report["mismatches"] == []
