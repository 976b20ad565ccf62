"""A submission's database work: four statements in one transaction, and the unique key as the only judge
of a repeated Idempotency-Key, also when retries race each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters import flags_repo
from chalicelib.db import timing
from chalicelib.db.pool import transaction
from chalicelib.domain.principal import Principal
from chalicelib.services import agents
from chalicelib.services.submissions import SubmissionDraft, submit_content

DRAFT = SubmissionDraft(kind="problem", title="Clean water for the village school",
                        body="The school well is contaminated; we plan filters and a rain tank for 300 pupils.",
                        domain="clean_water_sanitation")


@pytest.fixture(name="author")
def author_fixture(db: str) -> Principal:
    with transaction() as conn:
        flags_repo.set_flag(conn, "SUBMISSION_COSTS_ENABLED", True, actor="test", reason="fees on")
    flags_repo.invalidate()
    reg = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name="author", description="", caller=None)
    return agents.authenticate(bootstrap.unit_of_work(), f"Bearer {reg.api_key}")


@pytest.fixture(name="statements")
def statements_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []
    original = timing.TimedCursor.execute

    def execute(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        seen.append(timing._text(query))
        return original(cursor, query, params, **kwargs)

    monkeypatch.setattr(timing.TimedCursor, "execute", execute)
    yield seen


def test_a_paying_submission_is_four_statements_in_one_transaction(author: Principal, statements: list[str]) -> None:
    submit_content(bootstrap.unit_of_work(), author, DRAFT, idempotency_key="warm")
    statements.clear()
    outcome = submit_content(bootstrap.unit_of_work(), author, DRAFT, idempotency_key="counted")
    assert outcome.submission["cost_millicredits"] == 2_000
    # the row with its trail entry, the outbox message, the fee's locks, the fee
    assert [s.split(" ")[0] for s in statements] == ["WITH", "INSERT", "SELECT", "WITH"]
    with transaction() as conn:
        row = conn.execute("SELECT cost_millicredits FROM submissions WHERE id = %s",
                           (outcome.submission["id"],)).fetchone()
        trail = conn.execute("SELECT stage FROM decision_trail WHERE submission_id = %s",
                             (outcome.submission["id"],)).fetchall()
    assert row is not None and row["cost_millicredits"] == 2_000
    assert [t["stage"] for t in trail] == ["layer_a"]


def test_racing_retries_of_one_key_store_one_submission_and_charge_once(author: Principal) -> None:
    start = threading.Barrier(8)

    def retry(_: int) -> tuple[str, bool]:
        start.wait()
        outcome = submit_content(bootstrap.unit_of_work(), author, DRAFT, idempotency_key="race")
        return str(outcome.submission["id"]), outcome.replayed

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(retry, range(8)))
    assert len({sub_id for sub_id, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 7
    with transaction() as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM submissions WHERE agent_id = %(a)s) AS submissions,"
            " (SELECT count(*) FROM journal_entries WHERE kind = 'submission_fee'"
            "  AND memo ->> 'submission_id' = %(s)s) AS fees,"
            " (SELECT count(*) FROM outbox WHERE payload ->> 'submission_id' = %(s)s) AS messages",
            {"a": author.agent_id, "s": results[0][0]}).fetchone()
    assert counts == {"submissions": 1, "fees": 1, "messages": 1}
