"""Layer B inside the guardrail stage: the daily budget, the result cache, per-domain thresholds,
and failures that send content to human review. The real ``anthropic`` client talks to a local
fake of the API; nothing leaves the machine."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.anthropic.classifier import AnthropicClassifier
from chalicelib.domain.layer_b import Usage
from chalicelib.domain.pricing import cost_usd_micros
from tests.fakes.anthropic_server import (
    Delay,
    FakeAnthropic,
    HttpError,
    InvalidToolInput,
    Success,
    ToolCallMissing,
    outbound_network_blocked,
)
from tests.support import Api, admin_key, api_client, drain_outbox

MODEL = "claude-haiku-4-5"
# 1000 input + 200 output tokens on Haiku 4.5: 1000 x $1 + 200 x $5 per million = 2000 micro-dollars.
CALL_USAGE = {"input_tokens": 1000, "output_tokens": 200}
CALL_COST = 2000


def submission(n: int = 0, domain: str = "food_security", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "problem",
        "title": f"Community garden needs water access #{n}",
        "body": "Our neighbourhood food garden has no tap; volunteers carry water 400 m. "
                f"A rain tank and a shared hose line would help 60 families (site {n}).",
        "domain": domain,
        **extra,
    }


def verdict(score: float, domain: str = "food_security", harm: float = 0.05) -> dict[str, Any]:
    return {"aligned_domain": domain, "alignment_score": score, "harm_risk": harm, "feasibility": 0.7,
            "quality": 0.7, "reasoning": "Scripted by the test."}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


@pytest.fixture
def fake(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """The guardrail stage classifies with the real client against the fake (no waits between retries)."""
    from chalicelib import bootstrap

    with outbound_network_blocked() as refused, FakeAnthropic() as server:
        classifier = AnthropicClassifier(api_key=server.api_key, base_url=server.base_url, model=MODEL,
                                         timeout_s=0.3, sleep=lambda _s: None)
        monkeypatch.setattr(bootstrap, "classifier", functools.lru_cache(maxsize=1)(lambda: classifier))
        yield server
    assert refused == [], f"a request tried to leave the machine: {refused}"


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch, db: str) -> None:
    """Every agent counts as verified: decisions follow the scores alone."""
    from chalicelib.config import reset_settings

    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "0")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_APPROVALS", "0")
    reset_settings()


def rows(db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def set_budget_cents(cents: int) -> None:
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        flags_repo.set_flag(conn, "LAYER_B_DAILY_BUDGET_CENTS", cents, actor="test", reason="test budget")


def submit_and_decide(api: Api, key: str, body: dict[str, Any]) -> dict[str, Any]:
    created = api.post("/v1/submissions", key=key, body=body)
    assert created.status == 201, created.body
    drain_outbox()
    detail = api.get(f"/v1/submissions/{created.data['id']}", key=key).data
    assert isinstance(detail, dict)
    return detail


def layer_b_entry(detail: dict[str, Any]) -> dict[str, Any]:
    entry = next(t["verdict"] for t in detail["trail"] if t["stage"] == "layer_b")
    assert isinstance(entry, dict)
    return entry


# --- cost -------------------------------------------------------------------------------------


def test_each_call_is_stored_with_its_real_tokens_and_priced_from_the_table(
    api: Api, db: str, fake: FakeAnthropic
) -> None:
    usage = {"input_tokens": 310, "output_tokens": 150, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 1900}
    fake.enqueue(Success(usage=usage))
    key, _ = api.register("costed")
    detail = submit_and_decide(api, key, submission())

    expected = cost_usd_micros(MODEL, Usage(310, 150, 0, 1900))
    assert expected == 310 * 1 + 150 * 5 + 190  # cache reads at a tenth of the input price
    stored = rows(db, "SELECT submission_id, purpose, outcome, classifier, model, input_tokens, output_tokens,"
                      " cache_creation_input_tokens, cache_read_input_tokens, cost_usd_micros, attempts, error"
                      " FROM layer_b_calls")
    assert stored == [(UUID(detail["id"]), "guardrail", "called", "anthropic", MODEL, 310, 150, 0, 1900,
                       expected, 1, None)]
    assert layer_b_entry(detail)["cost_usd_micros"] == expected
    assert rows(db, "SELECT cost_usd_micros, calls FROM layer_b_spend_shards") == [(expected, 1)]


def test_the_offline_stand_in_is_labelled_in_the_trail_and_costs_nothing(api: Api, db: str) -> None:
    key, _ = api.register("offline")
    entry = layer_b_entry(submit_and_decide(api, key, submission()))
    assert entry["classifier"] == "offline" and entry["stand_in"] is True
    assert entry["model"] == "offline-naive-bayes-v2"
    assert rows(db, "SELECT classifier, outcome, cost_usd_micros FROM layer_b_calls") == [("offline", "called", 0)]


# --- budget -----------------------------------------------------------------------------------


def test_the_budget_alerts_once_at_80_percent_and_when_spent_content_goes_to_review_without_a_call(
    api: Api, db: str, fake: FakeAnthropic, verified: None
) -> None:
    set_budget_cents(1)  # 10_000 micro-dollars: five calls of 2_000
    fake.enqueue(*[Success(usage=CALL_USAGE)] * 5)
    key, _ = api.register("spender")

    decided = [submit_and_decide(api, key, submission(n)) for n in range(3)]
    assert [d["status"] for d in decided] == ["approved"] * 3
    assert rows(db, "SELECT count(*) FROM alerts") == [(0,)]

    submit_and_decide(api, key, submission(3))  # 8_000: 80 %
    assert rows(db, "SELECT rule, severity FROM alerts") == [("layer_b_budget_80", "warning")]

    submit_and_decide(api, key, submission(4))  # 10_000: spent
    assert len(fake.message_requests()) == 5

    over = submit_and_decide(api, key, submission(5))
    assert len(fake.message_requests()) == 5, "no call may be made once the budget is spent"
    assert over["status"] == "flagged" and over["decided_by"] == "layer_b"
    entry = layer_b_entry(over)
    assert entry["error"].startswith("budget_exhausted") and entry["assessment"] is None
    assert entry["cost_usd_micros"] == 0 and entry["decision"] == "flagged"
    assert rows(db, "SELECT reason, status FROM review_items WHERE subject_id = %s", UUID(over["id"])) == [
        ("layer_b_error", "pending")]

    submit_and_decide(api, key, submission(6))
    assert sorted(rows(db, "SELECT rule FROM alerts")) == [("layer_b_budget_80",), ("layer_b_budget_exhausted",)]
    assert rows(db, "SELECT outcome, count(*), sum(cost_usd_micros) FROM layer_b_calls GROUP BY outcome"
                    " ORDER BY outcome") == [("budget_exhausted", 2, 0), ("called", 5, 5 * CALL_COST)]


def test_a_budget_of_zero_allows_no_call(api: Api, db: str, fake: FakeAnthropic, verified: None) -> None:
    set_budget_cents(0)
    key, _ = api.register("frozen")
    detail = submit_and_decide(api, key, submission())
    assert detail["status"] == "flagged"
    assert fake.message_requests() == []
    assert rows(db, "SELECT rule FROM alerts") == [("layer_b_budget_exhausted",)]


def test_the_budget_is_per_utc_day(db: str, fake: FakeAnthropic) -> None:
    from chalicelib import bootstrap
    from chalicelib.services import layer_b_service

    set_budget_cents(1)
    sub = {"id": None, "kind": "problem", "title": "Water", "body": "A rain tank for the garden.",
           "domain": "food_security"}
    yesterday = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    fake.enqueue(*[Success(usage={"input_tokens": 10_000, "output_tokens": 0})] * 2)
    first = layer_b_service.classify_submission(bootstrap.unit_of_work(), sub, bootstrap.classifier(),
                                                purpose="guardrail", now=yesterday)
    assert first.cost_usd_micros == 10_000 and first.assessment is not None
    refused = layer_b_service.classify_submission(bootstrap.unit_of_work(), {**sub, "body": "Other"},
                                                  bootstrap.classifier(),
                                                  purpose="guardrail", now=yesterday + timedelta(seconds=30))
    assert refused.error is not None and refused.error.startswith("budget_exhausted")
    next_day = layer_b_service.classify_submission(bootstrap.unit_of_work(), {**sub, "body": "Other"},
                                                   bootstrap.classifier(),
                                                   purpose="guardrail", now=yesterday + timedelta(minutes=2))
    assert next_day.assessment is not None and len(fake.message_requests()) == 2


def test_batch_results_recorded_by_other_stages_count_against_the_same_budget(db: str) -> None:
    from chalicelib.domain.layer_b import ClassifierResult
    from chalicelib.services import layer_b_service

    set_budget_cents(1)
    now = datetime.now(UTC)
    spot = ClassifierResult(assessment=None, classifier="anthropic", model=MODEL, usage=Usage(0, 0, 0, 0),
                            cost_usd_micros=10_000, attempts=1, latency_ms=42_000, error="batch request expired")
    with bootstrap.unit_of_work() as uow:
        status = layer_b_service.record_call(uow, submission_id=None, purpose="spot_check", result=spot,
                                             batch=True, now=now)
    assert status.exhausted
    with bootstrap.unit_of_work() as uow:
        assert layer_b_service.is_budget_exhausted(uow, now)
    assert rows(db, "SELECT purpose, batch FROM layer_b_calls") == [("spot_check", True)]


# --- cache ------------------------------------------------------------------------------------


def test_the_same_content_within_an_hour_is_answered_from_the_cache_at_no_cost(
    api: Api, db: str, fake: FakeAnthropic, verified: None
) -> None:
    first_key, _ = api.register("original")
    second_key, _ = api.register("copycat")
    first = submit_and_decide(api, first_key, submission(1))
    # Same words, different spacing: the normalised content is the same.
    body = submission(1)
    body["body"] = "  " + body["body"].replace(" ", "  \n ") + "\t"
    second = submit_and_decide(api, second_key, body)

    assert len(fake.message_requests()) == 1
    cached = layer_b_entry(second)
    assert cached["cached"] is True and cached["cost_usd_micros"] == 0 and cached["attempts"] == 0
    assert cached["assessment"] == layer_b_entry(first)["assessment"]
    assert layer_b_entry(first)["cached"] is False
    assert second["status"] == first["status"] == "approved"
    assert rows(db, "SELECT outcome, cost_usd_micros FROM layer_b_calls ORDER BY id") == [
        ("called", layer_b_entry(first)["cost_usd_micros"]), ("cache_hit", 0)]


def test_another_declared_domain_or_other_words_are_not_cache_hits(
    api: Api, fake: FakeAnthropic
) -> None:
    key, _ = api.register("varied")
    submit_and_decide(api, key, submission(1))
    submit_and_decide(api, key, submission(1, domain="community_building"))
    submit_and_decide(api, key, submission(2))
    assert len(fake.message_requests()) == 3


def test_a_cached_assessment_expires_after_an_hour(db: str, fake: FakeAnthropic) -> None:
    from chalicelib import bootstrap
    from chalicelib.services import layer_b_service

    sub = {"id": None, "kind": "problem", "title": "Water", "body": "A rain tank.", "domain": None}
    start = datetime.now(UTC)
    for offset in (timedelta(0), timedelta(minutes=59), timedelta(minutes=61)):
        layer_b_service.classify_submission(bootstrap.unit_of_work(), sub, bootstrap.classifier(),
                                            purpose="guardrail", now=start + offset)
    assert len(fake.message_requests()) == 2
    assert rows(db, "SELECT outcome FROM layer_b_calls ORDER BY id") == [("called",), ("cache_hit",), ("called",)]


def test_failed_calls_are_never_cached(api: Api, fake: FakeAnthropic) -> None:
    fake.enqueue(*[HttpError(529, retry_after=0)] * 3)
    key, _ = api.register("retry")
    submit_and_decide(api, key, submission(1))
    submit_and_decide(api, key, submission(1))
    assert len(fake.message_requests()) == 4


# --- thresholds per domain --------------------------------------------------------------------


def test_a_domain_override_changes_decisions_in_that_domain_only_until_removed(
    api: Api, db: str, fake: FakeAnthropic, verified: None
) -> None:
    admin = admin_key()
    key, _ = api.register("scored")
    # The fake scores every submission 0.82 by default: approved under the default 0.70 bar.
    put = api.put("/v1/admin/guardrails/thresholds/food_security", key=admin,
                  body={"approve": 0.9, "flag": 0.5, "reason": "health claims in food posts need a human"})
    assert put.status == 200, put.body
    assert put.data == {**put.data, "domain": "food_security", "overridden": True, "approve": 0.9, "flag": 0.5,
                        "harm_warn": 0.6, "harm_block": 0.8}

    food = submit_and_decide(api, key, submission(1, domain="food_security"))
    school = submit_and_decide(api, key, submission(2, domain="education_access"))
    assert food["status"] == "flagged" and school["status"] == "approved"
    assert layer_b_entry(food)["thresholds"] == {"approve": 0.9, "flag": 0.5, "harm_warn": 0.6, "harm_block": 0.8,
                                                 "overrides": ["food_security"]}
    assert layer_b_entry(school)["thresholds"]["overrides"] == []

    removed = api.delete("/v1/admin/guardrails/thresholds/food_security", key=admin,
                         body={"reason": "back to defaults"})
    assert removed.status == 200 and removed.data["overridden"] is False
    assert submit_and_decide(api, key, submission(3, domain="food_security"))["status"] == "approved"

    changes = api.get("/v1/admin/guardrails/threshold-changes?domain=food_security", key=admin).data
    assert [(c["old_value"] is None, c["new_value"] is None, c["reason"]) for c in changes] == [
        (False, True, "back to defaults"), (True, False, "health claims in food posts need a human")]
    assert changes[0]["old_value"]["approve"] == 0.9 and changes[0]["actor"].startswith("admin:")


def test_declaring_a_domain_with_looser_thresholds_gains_nothing(
    api: Api, fake: FakeAnthropic, verified: None
) -> None:
    admin = admin_key()
    assert api.put("/v1/admin/guardrails/thresholds/food_security", key=admin,
                   body={"approve": 0.5, "reason": "pilot: faster food posts"}).status == 200
    key, _ = api.register("gamer")
    fake.enqueue(Success(assessment=verdict(0.6, "food_security")),
                 Success(assessment=verdict(0.6, "education_access")))
    honest = submit_and_decide(api, key, submission(1, domain="food_security"))
    gaming = submit_and_decide(api, key, submission(2, domain="food_security"))
    assert honest["status"] == "approved"
    # Layer B found another domain: the stricter of the two thresholds (the default 0.70) applies.
    assert gaming["status"] == "flagged"
    assert layer_b_entry(gaming)["thresholds"]["approve"] == 0.7


def test_the_overview_lists_every_domain_with_the_thresholds_in_force(api: Api) -> None:
    admin = admin_key()
    api.put("/v1/admin/guardrails/thresholds/elder_care", key=admin,
            body={"harm_warn": 0.3, "harm_block": 0.5, "reason": "vulnerable readers"})
    overview = api.get("/v1/admin/guardrails/thresholds", key=admin).data
    assert overview["defaults"] == {"approve": 0.7, "flag": 0.4, "harm_warn": 0.6, "harm_block": 0.8}
    by_domain = {d["domain"]: d for d in overview["domains"]}
    assert len(by_domain) == 15
    assert by_domain["elder_care"]["overridden"] and by_domain["elder_care"]["harm_block"] == 0.5
    assert not by_domain["food_security"]["overridden"] and by_domain["food_security"]["approve"] == 0.7


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("food_security", {"approve": 0.5, "flag": 0.5, "reason": "r"}, "flag"),
        ("food_security", {"approve": 0.3, "reason": "r"}, "flag"),  # below the default flag bar
        ("food_security", {"harm_warn": 0.9, "reason": "r"}, "harm_warn"),  # above the default block bar
        ("food_security", {"approve": 1.5, "reason": "r"}, "approve"),
        ("food_security", {"approve": -0.1, "reason": "r"}, "approve"),
        ("food_security", {"approve": "0.8", "reason": "r"}, "approve"),
        ("food_security", {"approve": 0.8}, "reason"),
        ("food_security", {"reason": "nothing to set"}, "body"),
        ("astrology", {"approve": 0.8, "reason": "r"}, "domain"),
    ],
)
def test_invalid_overrides_are_400_and_change_nothing(
    api: Api, db: str, path: str, body: dict[str, Any], field: str
) -> None:
    answer = api.put(f"/v1/admin/guardrails/thresholds/{path}", key=admin_key(), body=body)
    assert answer.status == 400 and answer.error["code"] == "VALIDATION_ERROR"
    assert any(field in d["field"] for d in answer.error["details"]), answer.error
    assert rows(db, "SELECT count(*) FROM layer_b_thresholds") == [(0,)]
    assert rows(db, "SELECT count(*) FROM layer_b_threshold_changes") == [(0,)]


def test_thresholds_are_for_admins_and_removing_a_missing_override_is_404(api: Api) -> None:
    key, _ = api.register("curious")
    assert api.get("/v1/admin/guardrails/thresholds", key=key).status == 403
    assert api.put("/v1/admin/guardrails/thresholds/food_security", key=key,
                   body={"approve": 0.1, "reason": "please"}).status == 403
    gone = api.delete("/v1/admin/guardrails/thresholds/food_security", key=admin_key(), body={"reason": "tidy"})
    assert gone.status == 404


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        HttpError(529, retry_after=0),
        HttpError(429, retry_after=0),
        ToolCallMissing(),
        InvalidToolInput(),
        Delay(seconds=2.0),  # past the client's 0.3 s timeout
    ],
    ids=["overloaded", "rate_limited", "tool_call_missing", "invalid_tool_input", "timeout"],
)
def test_when_layer_b_keeps_failing_content_goes_to_human_review_and_is_never_approved(
    api: Api, db: str, fake: FakeAnthropic, verified: None, failure: Any
) -> None:
    fake.enqueue(*[failure] * 3)
    key, agent = api.register("unlucky")
    detail = submit_and_decide(api, key, submission())
    assert detail["status"] == "flagged" and detail["decided_by"] == "layer_b"
    entry = layer_b_entry(detail)
    assert entry["assessment"] is None and entry["attempts"] == 3 and entry["error"]
    assert rows(db, "SELECT reason FROM review_items WHERE subject_id = %s", UUID(detail["id"])) == [
        ("layer_b_error",)]
    assert rows(db, "SELECT outcome, attempts, error IS NOT NULL FROM layer_b_calls") == [("called", 3, True)]
    assert rows(db, "SELECT approvals_count FROM agents WHERE id = %s", UUID(agent["id"])) == [(0,)]


def test_the_budget_page_shows_todays_spend_and_outcomes(api: Api, fake: FakeAnthropic, verified: None) -> None:
    set_budget_cents(1)
    fake.enqueue(Success(usage=CALL_USAGE))
    key, _ = api.register("watched")
    submit_and_decide(api, key, submission(1))
    submit_and_decide(api, key, submission(1))
    page = api.get("/v1/admin/guardrails/budget?days=3", key=admin_key()).data
    assert page["today"]["spent_usd_micros"] == CALL_COST and page["today"]["budget_usd_micros"] == 10_000
    assert page["today"]["spent_share"] == 0.2 and page["today"]["exhausted"] is False
    assert page["outcomes"] == {"called": 1, "cache_hit": 1, "budget_exhausted": 0}
    assert page["days"][0]["calls"] == 1


# --- the day's spend in shards ------------------------------------------------------------------


class PricedStandIn:
    """A classifier that answers after a short wait at a fixed price (the wait keeps calls in flight
    together, the window in which concurrent callers can all pass the budget check)."""

    model = MODEL

    def __init__(self, cost: int) -> None:
        self.cost = cost

    def classify(self, item: Any) -> Any:
        import time

        from chalicelib.domain.layer_b import Assessment, ClassifierResult

        time.sleep(0.01)
        assessment = Assessment.model_validate(verdict(0.9))
        return ClassifierResult(assessment=assessment, classifier="anthropic", model=MODEL,
                                usage=Usage(1000, 0, 0, 0), cost_usd_micros=self.cost, attempts=1, latency_ms=10,
                                error=None)


def test_concurrent_callers_overrun_the_budget_by_at_most_one_call_each(db: str) -> None:
    import math
    import threading

    from chalicelib.domain.layer_b import MICROS_PER_CENT
    from chalicelib.services import layer_b_service

    # Given a budget of 1 cent, calls of 0.15 cent, and 8 callers classifying at once until refused
    set_budget_cents(1)
    cost, callers = 1_500, 8
    budget = 1 * MICROS_PER_CENT
    classifier = PricedStandIn(cost)
    barrier = threading.Barrier(callers)
    errors: list[BaseException] = []

    def caller(i: int) -> None:
        barrier.wait()
        try:
            for n in range(40):
                sub = {"id": None, "kind": "problem", "title": f"Water {i}-{n}", "body": f"A rain tank {i}-{n}.",
                       "domain": "food_security"}
                result = layer_b_service.classify_submission(bootstrap.unit_of_work(), sub, classifier,
                                                             purpose="guardrail", use_cache=False)
                if result.error is not None:
                    assert result.error.startswith("budget_exhausted")
                    return
            raise AssertionError("the budget never ran out")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    # Then the day is spent, its shards add up to every recorded call, and the overrun is bounded:
    # a call starts only while the day's total is below the budget (at most ceil(budget / cost) - 1
    # calls done), and at most one call per caller is then in flight.
    [(calls, spent)] = rows(db, "SELECT count(*), sum(cost_usd_micros) FROM layer_b_calls WHERE outcome = 'called'")
    [(shard_calls, shard_spent, shards)] = rows(
        db, "SELECT sum(calls), sum(cost_usd_micros), count(*) FROM layer_b_spend_shards")
    assert (shard_calls, shard_spent) == (calls, spent) == (calls, calls * cost)
    assert shards > 1
    assert spent >= budget
    assert calls <= math.ceil(budget / cost) - 1 + callers
    with bootstrap.unit_of_work() as uow:
        status = layer_b_service.budget_status(uow, datetime.now(UTC))
    assert status.exhausted and (status.spent_usd_micros, status.calls) == (spent, calls)
