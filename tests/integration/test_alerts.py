"""The alert engine on the real database: each rule fires on its sample, alerts page once, resolve,
escalate when nobody acknowledges, and operators list, acknowledge and resolve them over the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from tests.integration import alert_world as w
from tests.integration.alert_world import NOW, RecordingNotifier
from tests.support import admin_key, api_client

JOBS = [("outbox_sweep", 60), ("alert_engine", 60)]


def run(now: Any = NOW, channels: list[Any] | None = None, **kw: Any) -> dict[str, Any]:
    from chalicelib.services.alerts import run_engine

    return run_engine(bootstrap.unit_of_work(), bootstrap.probes(), JOBS, now=now,
                      channels=channels if channels is not None else [RecordingNotifier()],
                      retry_delay_s=0, **kw)


def alerts(db: str) -> list[dict[str, Any]]:
    return w.rows(db, "SELECT * FROM alerts ORDER BY created_at, rule")


# --- one sample per rule ------------------------------------------------------------------------


def false_negatives(db: str) -> None:
    author = w.agent(db)
    for i in range(20):  # 2 of 20 spot checks were false negatives: 10 % > 5 %
        w.spot_check(db, author, completed_at=NOW - timedelta(hours=1, minutes=i),
                     disagreement="false_negative" if i < 2 else None)


def consensus_latency(db: str) -> None:
    author = w.agent(db)
    for i in range(6):
        w.consensus_round(db, author, decided_at=NOW - timedelta(minutes=5 + i), latency_ms=16_000 + i)


def spot_check_disagreement(db: str) -> None:
    author = w.agent(db)
    for i in range(20):  # 3 missed flags in 20: 15 % > 10 % (and no false negative)
        w.spot_check(db, author, completed_at=NOW - timedelta(hours=2, minutes=i),
                     disagreement="missed_flag" if i < 3 else None)


def quorum_failures(db: str) -> None:
    author = w.agent(db)
    for i in range(20):
        w.consensus_round(db, author, decided_at=NOW - timedelta(hours=3, minutes=i),
                          cause="timeout" if i < 2 else "quorum", latency_ms=None if i < 2 else 900)


def validator_pool(db: str) -> None:
    w.validators(db, 5)
    w.flag(db, "PEER_VALIDATION_ENABLED", True)


def insufficient_validators(db: str) -> None:
    author = w.agent(db)
    for i in range(10):
        w.assignment_trail(db, author, reason="insufficient_validators" if i < 2 else "none_eligible",
                           at=NOW - timedelta(minutes=10 + i))


def dlq_growth(db: str) -> None:
    w.outbox_row(db, created_at=NOW - timedelta(minutes=30), dead_at=NOW - timedelta(minutes=2))


def db_pool(db: str) -> None:
    from chalicelib.db.pool import get_pool

    pool = get_pool()  # 10 connections at most in tests: hold 7, the engine's own makes 8 (80 %)
    held = [pool.getconn() for _ in range(7)]
    HELD.extend((pool, c) for c in held)


HELD: list[Any] = []


def slow_queries(db: str) -> None:
    w.slow_statement(db, duration_ms=1250, at=NOW - timedelta(minutes=1))
    w.slow_statement(db, duration_ms=620, at=NOW - timedelta(minutes=2))


def outbox_backlog(db: str) -> None:
    w.outbox_row(db, created_at=NOW - timedelta(minutes=12))


def scheduler_stalled(db: str) -> None:
    w.job_run(db, "outbox_sweep", started_at=NOW - timedelta(minutes=20), ok=True)
    w.job_run(db, "outbox_sweep", started_at=NOW - timedelta(minutes=2), ok=False)
    w.job_run(db, "alert_engine", started_at=NOW - timedelta(seconds=30), ok=True)


def layer_b_errors(db: str) -> None:
    # Anthropic overloaded, then timing out: 6 of the last 8 calls in 10 minutes failed
    for i in range(8):
        w.execute(db, "INSERT INTO layer_b_calls (purpose, outcome, classifier, model, error, created_at)"
                      " VALUES ('guardrail', 'called', 'anthropic', 'claude-haiku-4-5', %s, %s)",
                  "APIStatusError: 529 overloaded" if i < 6 else None, NOW - timedelta(minutes=1 + i))
    # Older failures and cache hits do not count
    w.execute(db, "INSERT INTO layer_b_calls (purpose, outcome, classifier, model, error, created_at)"
                  " VALUES ('guardrail', 'called', 'anthropic', 'claude-haiku-4-5', 'timeout', %s)",
              NOW - timedelta(minutes=30))


SAMPLES: list[tuple[Callable[[str], None], str, str, str]] = [
    (false_negatives, "false_negatives", "false_negatives", "critical"),
    (consensus_latency, "consensus_latency", "consensus_latency", "warning"),
    (spot_check_disagreement, "spot_check_disagreement", "spot_check_disagreement", "warning"),
    (quorum_failures, "quorum_failures", "quorum_failures", "warning"),
    (validator_pool, "validator_pool", "validator_pool", "warning"),
    (insufficient_validators, "insufficient_validators", "insufficient_validators", "critical"),
    (dlq_growth, "dlq_growth", "dlq_growth", "critical"),
    (db_pool, "db_pool", "db_pool", "warning"),
    (slow_queries, "slow_queries", "slow_queries", "critical"),
    (outbox_backlog, "outbox_backlog", "outbox_backlog", "warning"),
    (scheduler_stalled, "scheduler_stalled", "scheduler_stalled:outbox_sweep", "critical"),
    (layer_b_errors, "layer_b_errors", "layer_b_errors", "critical"),
]


@pytest.mark.parametrize(("build", "rule", "key", "severity"), SAMPLES, ids=[s[1] for s in SAMPLES])
def test_each_rule_fires_on_its_sample_and_nothing_else_does(
    db: str, build: Callable[[str], None], rule: str, key: str, severity: str,
) -> None:
    # Given the figures of one rule over its threshold
    build(db)
    try:
        # When the engine runs
        summary = run()
    finally:
        for pool, conn in HELD:
            pool.putconn(conn)
        HELD.clear()
    # Then exactly that alert is raised, with its severity and tier, and announced once
    raised = alerts(db)
    assert [(a["rule"], a["dedup_key"], a["severity"]) for a in raised] == [(rule, key, severity)], summary
    assert raised[0]["tier"] == (1 if severity == "critical" else 2)
    assert summary["firing"] == [key]
    assert summary["announced"] == 1


def test_a_quiet_system_raises_nothing_and_says_which_rules_lack_data(db: str) -> None:
    summary = run()
    assert alerts(db) == []
    assert summary["firing"] == []
    # Rates over too few events are unknown, not "fine"
    assert {"false_negatives", "consensus_latency", "quorum_failures", "spot_check_disagreement"} <= set(
        summary["unknown"])


# --- paging once, resolving, escalating ---------------------------------------------------------


def test_a_firing_rule_pages_once_however_often_the_engine_runs(db: str) -> None:
    outbox_backlog(db)
    pager = RecordingNotifier("webhook")
    for minute in range(5):
        run(NOW + timedelta(minutes=minute), channels=[pager])
    [alert] = alerts(db)
    assert alert["occurrences"] == 5
    assert [m.event for m in pager.sent] == ["raised"]
    assert pager.sent[0].rule == "outbox_backlog" and pager.sent[0].runbook == "docs/runbooks/outbox_backlog.md"


def test_a_cleared_condition_resolves_and_a_relapse_within_the_hour_does_not_page_again(db: str) -> None:
    pager = RecordingNotifier()
    w.slow_statement(db, duration_ms=700, at=NOW - timedelta(minutes=1))
    run(NOW, channels=[pager])
    # Ten minutes later the slow statement is out of the 5-minute window: resolved by the engine
    run(NOW + timedelta(minutes=10), channels=[pager])
    [alert] = alerts(db)
    assert alert["status"] == "resolved" and alert["resolved_by"] == "alert-engine"
    # It relapses 20 minutes later: folded into the resolved alert, no new page
    w.slow_statement(db, duration_ms=800, at=NOW + timedelta(minutes=29))
    run(NOW + timedelta(minutes=30), channels=[pager])
    assert len(alerts(db)) == 1 and len(pager.sent) == 1
    # Two hours later it relapses again: a new alert, a new page
    run(NOW + timedelta(minutes=40), channels=[pager])
    w.slow_statement(db, duration_ms=900, at=NOW + timedelta(hours=2))
    run(NOW + timedelta(hours=2, minutes=1), channels=[pager])
    assert [a["status"] for a in alerts(db)] == ["resolved", "open"]
    assert [m.event for m in pager.sent] == ["raised", "raised"]


def test_an_unacknowledged_tier_1_alert_escalates_after_15_minutes_and_an_acknowledged_one_does_not(db: str) -> None:
    pager = RecordingNotifier()
    dlq_growth(db)  # critical: tier 1
    run(NOW, channels=[pager])
    run(NOW + timedelta(minutes=14), channels=[pager])
    assert [m.event for m in pager.sent] == ["raised"]
    run(NOW + timedelta(minutes=15), channels=[pager])
    run(NOW + timedelta(minutes=16), channels=[pager])
    assert [m.event for m in pager.sent] == ["raised", "escalated"]
    assert pager.sent[1].subject.startswith("ESCALATED [CRITICAL]")
    [alert] = alerts(db)
    assert alert["escalation_level"] == 1

    # A second critical alert that someone acknowledges in time never escalates
    from chalicelib.services.alerts import acknowledge

    w.job_run(db, "outbox_sweep", started_at=NOW - timedelta(minutes=20), ok=True)
    run(NOW + timedelta(minutes=20), channels=[pager])
    stalled = next(a for a in alerts(db) if a["rule"] == "scheduler_stalled")
    acknowledge(bootstrap.unit_of_work(), stalled["id"], actor="admin:oncall", note="looking")
    run(NOW + timedelta(hours=2), channels=[pager])
    assert [m.event for m in pager.sent].count("escalated") == 1


def test_a_tier_2_alert_waits_four_hours_before_escalating(db: str) -> None:
    pager = RecordingNotifier()
    outbox_backlog(db)  # warning: tier 2
    run(NOW, channels=[pager])
    run(NOW + timedelta(hours=3, minutes=59), channels=[pager])
    assert [m.event for m in pager.sent] == ["raised"]
    run(NOW + timedelta(hours=4), channels=[pager])
    assert [m.event for m in pager.sent] == ["raised", "escalated"]


def test_alerts_raised_by_other_flows_are_announced_once_too(db: str) -> None:
    from chalicelib.adapters import alerts_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        alerts_repo.raise_alert(conn, rule="economy_ratio_out_of_band", severity="warning",
                                title="faucet/sink ratio 1.52 outside 0.70-1.30", details={"ratio": 1.52})
        alerts_repo.raise_alert(conn, rule="layer_b_budget_80", severity="warning",
                                title="Layer B spend reached 80 % of the daily budget", dedup_key="layer_b_budget_80:d")
    pager = RecordingNotifier("sns")
    run(NOW, channels=[pager])
    run(NOW + timedelta(minutes=1), channels=[pager])
    assert sorted(m.rule for m in pager.sent) == ["economy_ratio_out_of_band", "layer_b_budget_80"]


# --- delivery: retries, give-up, real channels ----------------------------------------------------


def test_a_flaky_channel_is_retried_within_one_delivery(db: str) -> None:
    outbox_backlog(db)
    flaky = RecordingNotifier("webhook", failures=2)
    summary = run(channels=[flaky])
    assert summary["notifications_sent"] == 1 and flaky.calls == 3
    [row] = w.rows(db, "SELECT status, attempts, rounds FROM alert_notifications")
    assert row == {"status": "sent", "attempts": 3, "rounds": 1}


def test_a_dead_channel_keeps_the_notification_queued_then_gives_up_without_blocking_others(db: str) -> None:
    outbox_backlog(db)
    dead = RecordingNotifier("webhook", failures=10_000)
    log = RecordingNotifier("log")
    for minute in range(5):
        run(NOW + timedelta(minutes=minute), channels=[log, dead])
    statuses = {r["channel"]: (r["status"], r["rounds"]) for r in w.rows(db, "SELECT * FROM alert_notifications")}
    assert statuses == {"log": ("sent", 1), "webhook": ("failed", 5)}
    assert len(log.sent) == 1
    # Given up: later runs stop trying
    calls = dead.calls
    run(NOW + timedelta(minutes=6), channels=[log, dead])
    assert dead.calls == calls


def test_the_webhook_notifier_posts_slack_json_with_a_timeout_and_retries(db: str) -> None:
    import http.server
    import json
    import threading

    received: list[dict[str, Any]] = []
    answers = [500, 200]

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(answers.pop(0))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        from chalicelib.adapters.notifiers import WebhookNotifier

        outbox_backlog(db)
        hook = WebhookNotifier(f"http://127.0.0.1:{server.server_port}/hook", timeout_s=2)
        summary = run(channels=[hook])
    finally:
        server.shutdown()
    assert summary["notifications_sent"] == 1
    assert len(received) == 2  # the 500 was retried
    assert received[-1]["text"].startswith(":warning: [WARNING] peerguard: oldest unsent outbox message")
    assert any("runbook" in b["text"]["text"] for b in received[-1]["blocks"])


def test_the_sns_notifier_publishes_to_the_alerts_topic(db: str) -> None:
    import json

    import boto3
    from moto import mock_aws

    from chalicelib.adapters.notifiers import SnsNotifier

    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="peerguard-test-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="pager")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        dlq_growth(db)
        run(channels=[SnsNotifier(topic, region="us-east-1", client=sns)])
        [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"].startswith("[CRITICAL] peerguard: dead letters growing")
    assert "runbook: docs/runbooks/dlq_growth.md" in envelope["Message"]
    assert envelope["MessageAttributes"]["severity"]["Value"] == "critical"


def test_dead_letter_queue_growth_in_sqs_fires_and_settles(db: str) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        for topic in ("guardrail", "consensus", "spot-check", "privacy"):
            sqs.create_queue(QueueName=f"peerguard-{topic}-dlq")
        url = sqs.get_queue_url(QueueName="peerguard-consensus-dlq")["QueueUrl"]
        first = run(dlq_client=sqs)
        assert first["firing"] == []
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        grown = run(NOW + timedelta(minutes=1), dlq_client=sqs)
        assert grown["firing"] == ["dlq_growth"]
        [alert] = alerts(db)
        assert alert["details"]["grown"] == {"peerguard-consensus-dlq": 1}
        # Nothing new arrives: no growth, the alert resolves (the held message stays for a redrive)
        settled = run(NOW + timedelta(minutes=2), dlq_client=sqs)
        assert settled["firing"] == [] and settled["resolved"] == 1


# --- operators over the API -----------------------------------------------------------------------


def test_operators_list_filter_page_acknowledge_and_resolve_alerts(db: str) -> None:
    for build in (outbox_backlog, dlq_growth, slow_queries):
        build(db)
    run()
    admin = admin_key()
    with api_client() as api:
        listed = api.get("/v1/admin/alerts", key=admin)
        assert listed.status == 200 and len(listed.data) == 3
        assert all(a["runbook"] == f"docs/runbooks/{a['rule']}.md" for a in listed.data)
        critical = api.get("/v1/admin/alerts?severity=critical", key=admin).data
        assert sorted(a["rule"] for a in critical) == ["dlq_growth", "slow_queries"]
        assert [a["rule"] for a in api.get("/v1/admin/alerts?rule=outbox_backlog", key=admin).data] == [
            "outbox_backlog"]
        # Keyset pages of one
        first = api.get("/v1/admin/alerts?limit=1", key=admin)
        second = api.get(f"/v1/admin/alerts?limit=1&cursor={first.body['meta']['next_cursor']}", key=admin)
        third = api.get(f"/v1/admin/alerts?limit=1&cursor={second.body['meta']['next_cursor']}", key=admin)
        assert third.body["meta"]["next_cursor"] is None
        assert len({first.data[0]["id"], second.data[0]["id"], third.data[0]["id"]}) == 3

        alert_id = critical[0]["id"]
        acked = api.post(f"/v1/admin/alerts/{alert_id}/ack", key=admin, body={"note": "on it"})
        assert acked.status == 200
        assert acked.data["status"] == "acknowledged" and acked.data["ack_note"] == "on it"
        assert acked.data["acknowledged_by"].startswith("admin:")
        assert api.post(f"/v1/admin/alerts/{alert_id}/ack", key=admin, body={}).status == 200  # harmless twice
        assert [a["id"] for a in api.get("/v1/admin/alerts?status=acknowledged", key=admin).data] == [alert_id]
        detail = api.get(f"/v1/admin/alerts/{alert_id}", key=admin).data
        assert [n["event"] for n in detail["notifications"]] == ["raised"]

        resolved = api.post(f"/v1/admin/alerts/{alert_id}/resolve", key=admin)
        assert resolved.data["status"] == "resolved" and resolved.data["resolved_by"].startswith("admin:")
        late_ack = api.post(f"/v1/admin/alerts/{alert_id}/ack", key=admin, body={})
        assert late_ack.status == 409 and late_ack.error["code"] == "CONFLICT"

        missing = "00000000-0000-4000-8000-000000000000"
        assert api.post(f"/v1/admin/alerts/{missing}/ack", key=admin, body={}).status == 404
        assert api.get("/v1/admin/alerts?status=bogus", key=admin).status == 400
        agent_key, _ = api.register("curious-agent")
        assert api.get("/v1/admin/alerts", key=agent_key).status == 403


def test_an_operator_runs_the_rules_now(db: str) -> None:
    outbox_backlog(db)
    with api_client() as api:
        answer = api.post("/v1/admin/alerts/evaluate", key=admin_key())
    assert answer.status == 200
    assert answer.data["firing"] == ["outbox_backlog"] and answer.data["raised"] == 1


# --- Layer B outage (found by the chaos harness: a model outage raised nothing) -----------------


def _layer_b_call(db: str, at: Any, error: str | None) -> None:
    w.execute(db, "INSERT INTO layer_b_calls (purpose, outcome, classifier, model, error, created_at)"
                  " VALUES ('guardrail', 'called', 'anthropic', 'claude-haiku-4-5', %s, %s)", error, at)


def test_an_outage_that_has_just_begun_pages_at_once_and_resolves_when_calls_succeed_again(db: str) -> None:
    # Given 60 good calls, then the latest 5 overloaded (5 % of the window: below the rate threshold)
    for i in range(60):
        _layer_b_call(db, NOW - timedelta(minutes=9, seconds=-i), None)
    for i in range(5):
        _layer_b_call(db, NOW - timedelta(seconds=50 - i), "APIStatusError: 529 overloaded")
    summary = run()
    assert summary["firing"] == ["layer_b_errors"]
    [alert] = alerts(db)
    assert alert["severity"] == "critical" and alert["details"]["latest_failed_in_a_row"] == 5
    # When the API answers again, the next run resolves it
    _layer_b_call(db, NOW + timedelta(seconds=30), None)
    run(NOW + timedelta(minutes=1))
    [alert] = alerts(db)
    assert alert["status"] == "resolved"
