"""`python -m local demo peer`: the peer-validation story, start to finish, printed step by step.

It runs in a database of its own (``peerguard_demo``, recreated each time: the data of `make run`
is never touched), calls the real API in-process through Chalice's test client, and delivers the
outbox as the local dispatcher does. The three switches of peer validation are all pulled here:
the pool backfill, ``PEER_VALIDATION_ENABLED`` and ``PEER_VALIDATION_TRAFFIC_PCT``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

DEMO_DATABASE = "peerguard_demo"
VALIDATORS = 6

PROBLEM = {
    "kind": "problem",
    "title": "Broken well pump in the east village",
    "body": "The village hand pump broke two weeks ago; families now walk 4 km for drinking water. "
            "A replacement pump head and a trained local repair volunteer would fix it for a season.",
    "domain": "clean_water_sanitation",
}


class Story:
    """The demo's API calls, each printed with its outcome."""

    def __init__(self, client: Any, say: Callable[[str], None]) -> None:
        self.client = client
        self.say = say
        self.step = 0

    def call(self, method: str, path: str, *, key: str | None, body: Any = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        response = getattr(self.client.http, method.lower())(
            path, headers=headers, body=json.dumps(body) if body is not None else b"")
        answer: dict[str, Any] = json.loads(response.body)
        if not answer.get("ok"):
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {answer.get('error')}")
        return answer

    def heading(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}")


def deliver_outbox() -> int:
    """Hand every due outbox message to its handler, as the local dispatcher does."""
    from chalicelib import bootstrap
    from chalicelib.services.outbox_relay import relay
    from local.dispatcher import LocalSender
    from local.handlers import local_handlers

    sender = LocalSender(local_handlers())
    total = 0
    while sent := relay(bootstrap.unit_of_work(), sender, limit=50):
        total += sent
    return total


def run_peer_demo(say: Callable[[str], None]) -> int:
    """The story: validators join, peer traffic goes on, peers decide, rollback, Layer B decides."""
    from local import database

    os.environ["DATABASE_URL"] = database.create_scratch_database(DEMO_DATABASE)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # the story, not the metric lines
    logging.disable(logging.WARNING)  # nor the app's log lines
    from local.__main__ import prepare

    prepare()
    from chalice.test import Client

    from app import app
    from chalicelib import bootstrap
    from chalicelib.services.agents import create_admin_key

    say(f"peer validation demo in its own database ({DEMO_DATABASE}); the data of `make run` is untouched")
    admin = create_admin_key(bootstrap.unit_of_work(), label="demo")
    with Client(app, stage_name="local") as client:
        story = Story(client, say)
        return _tell(story, admin)


def _register(story: Story, name: str) -> tuple[str, str]:
    data = story.call("POST", "/v1/agents", key=None, body={"name": name, "description": "peer demo"})["data"]
    return str(data["api_key"]), str(data["agent"]["id"])


def _submission(story: Story, key: str, sub_id: str) -> dict[str, Any]:
    return dict(story.call("GET", f"/v1/submissions/{sub_id}", key=key)["data"])


def _tell(story: Story, admin: str) -> int:
    say = story.say
    story.heading("Register an author and validator agents (locally every agent is verified at once)")
    author_key, _ = _register(story, "demo-author")
    validators = [_register(story, f"demo-validator-{n}") for n in range(VALIDATORS)]
    say(f"   author + {len(validators)} validators registered")

    story.heading("Switch 1 - backfill the pool: POST /v1/admin/validators/backfill")
    pool = story.call("POST", "/v1/admin/validators/backfill", key=admin)["data"]
    say(f"   added {pool['added']} (every verified agent, the author too); pool size {pool['pool_size']}; "
        "the validator_backfill schedule does this every 10 minutes")

    story.heading("Switch 2 - PUT /v1/admin/flags/PEER_VALIDATION_ENABLED true (alone: shadow mode)")
    story.call("PUT", "/v1/admin/flags/PEER_VALIDATION_ENABLED", key=admin,
               body={"value": True, "reason": "peer demo"})
    say("   peers now evaluate, but at 0 % traffic Layer B still decides everything")

    story.heading("Switch 3 - PUT /v1/admin/flags/PEER_VALIDATION_TRAFFIC_PCT 100 (forced: no shadow data yet)")
    flag = story.call("PUT", "/v1/admin/flags/PEER_VALIDATION_TRAFFIC_PCT", key=admin,
                      body={"value": 100, "reason": "peer demo: no shadow history on a fresh database",
                            "force": True})["data"]
    say(f"   PEER_VALIDATION_TRAFFIC_PCT = {flag['value']}: every verified agent's submission goes to peers")

    story.heading("The author submits a problem")
    sub_id = str(story.call("POST", "/v1/submissions", key=author_key, body=PROBLEM)["data"]["id"])
    deliver_outbox()
    sub = _submission(story, author_key, sub_id)
    assignment = next(t["verdict"] for t in sub["trail"] if t["stage"] == "assignment")
    say(f"   {sub_id}: status {sub['status']}, Layer A and Layer B ran, routed to peers; "
        f"{assignment['assigned']} validators assigned, quorum {assignment['quorum']}")

    story.heading("Validators answer until the quorum is reached")
    answered = 0
    for key, agent_id in validators:
        if answered == 3:
            break
        for evaluation in story.call("GET", "/v1/evaluations/pending", key=key)["data"]:
            if evaluation["submission"]["id"] == sub_id:
                story.call("POST", f"/v1/evaluations/{evaluation['id']}", key=key, body={
                    "decision": "approve", "confidence": 0.9,
                    "reasoning": "A concrete local problem with a clear fix."})
                answered += 1
                say(f"   validator {agent_id[:8]} approves")
    deliver_outbox()
    sub = _submission(story, author_key, sub_id)
    consensus = next(t["verdict"] for t in sub["trail"] if t["stage"] == "consensus")
    say(f"   peer decision: {sub['status']} (decided_by {sub['decided_by']}; consensus {consensus['outcome']})")
    say(f"   trail: {' -> '.join(t['stage'] for t in sub['trail'])}")

    story.heading("Rollback: POST /v1/admin/rollback")
    rolled = story.call("POST", "/v1/admin/rollback", key=admin, body={"reason": "peer demo: rollback drill"})["data"]
    say(f"   {rolled['flag']}: {rolled['previous_value']} -> {rolled['value']}, effective within "
        f"{rolled['effective_within_seconds']} s for every new routing decision")

    story.heading("The author submits again: Layer B decides now")
    second = str(story.call("POST", "/v1/submissions", key=author_key,
                            body={**PROBLEM, "title": "Broken well pump in the west village"})["data"]["id"])
    deliver_outbox()
    sub = _submission(story, author_key, second)
    say(f"   {second}: {sub['status']} (decided_by {sub['decided_by']})")
    say("\ndone: the pool was backfilled, peer traffic went on, peers decided, the rollback sent "
        "traffic back to Layer B.")
    return 0
