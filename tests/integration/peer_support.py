"""A small world for peer-validation stories: validators, a submitter, an admin, flags set over the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from tests.support import Answer, Api, admin_key, api_client, drain_outbox

GOOD = {
    "kind": "solution",
    "title": "Rain tanks for the school garden",
    "body": "Install two rain tanks so students can water the food garden; the school nutrition plan "
            "and the farm club grow crops for meals. Budget and a three month pilot plan are attached.",
    "domain": "food_security",
}
# No domain keywords at all: the offline Layer B scores alignment 0.25 and rejects it.
OFF_TOPIC = {
    "kind": "debate",
    "title": "My favourite sofa colours",
    "body": "Beige versus grey for a living room sofa, and whether cushions should match the curtains.",
}


def rows(db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def execute(db: str, sql: str, *params: object) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sql, params)


@dataclass
class Validator:
    key: str
    id: str


@dataclass
class PeerWorld:
    api: Api
    db: str
    admin: str
    submitter_key: str
    submitter_id: str
    validators: list[Validator] = field(default_factory=list)

    def by_id(self, agent_id: str) -> Validator:
        return next(v for v in self.validators if v.id == agent_id)

    def add_validators(self, count: int, prefix: str = "validator") -> list[Validator]:
        added = []
        for i in range(count):
            key, agent = self.api.register(f"{prefix}-{len(self.validators) + i}")
            added.append(Validator(key, agent["id"]))
        self.validators += added
        backfilled = self.api.post("/v1/admin/validators/backfill", key=self.admin)
        assert backfilled.status == 200, backfilled.body
        return added

    def set_flag(self, name: str, value: Any, *, force: bool = True, reason: str = "test story") -> Answer:
        return self.api.put(f"/v1/admin/flags/{name}", key=self.admin,
                            body={"value": value, "reason": reason, "force": force})

    def peer_traffic(self, pct: int) -> None:
        assert self.set_flag("PEER_VALIDATION_ENABLED", True).status == 200
        answer = self.set_flag("PEER_VALIDATION_TRAFFIC_PCT", pct)
        assert answer.status == 200, answer.body

    def submit(self, body: dict[str, Any] | None = None, *, key: str | None = None, drain: bool = True) -> str:
        created = self.api.post("/v1/submissions", key=key or self.submitter_key, body=body or GOOD)
        assert created.status == 201, created.body
        if drain:
            drain_outbox()
        return str(created.data["id"])

    def submission(self, sub_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/submissions/{sub_id}", key=self.admin)
        assert answer.status == 200, answer.body
        return dict(answer.data)

    def pending(self, validator: Validator) -> list[dict[str, Any]]:
        answer = self.api.get("/v1/evaluations/pending?limit=100", key=validator.key)
        assert answer.status == 200, answer.body
        return list(answer.data)

    def assignments(self, sub_id: str) -> list[tuple[Validator, str]]:
        """(validator, evaluation id) of every pending evaluation of the submission."""
        found = []
        for v in self.validators:
            for e in self.pending(v):
                if e["submission"]["id"] == sub_id:
                    found.append((v, e["id"]))
        return found

    def answer(self, validator: Validator, evaluation_id: str, decision: str = "approve", *,
               confidence: float = 0.9, safety_flagged: bool = False, reasoning: str = "Looks right.") -> Answer:
        return self.api.post(f"/v1/evaluations/{evaluation_id}", key=validator.key, body={
            "decision": decision, "confidence": confidence, "reasoning": reasoning,
            "safety_flagged": safety_flagged})

    def vote(self, sub_id: str, decisions: list[str], **kw: Any) -> list[Answer]:
        """The first len(decisions) assigned validators answer, in assignment order."""
        assigned = self.assignments(sub_id)
        assert len(assigned) >= len(decisions), assigned
        return [self.answer(v, eid, d, **kw) for (v, eid), d in zip(assigned, decisions, strict=False)]


@pytest.fixture(name="world")
def world_fixture(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PeerWorld]:
    """A submitter, an admin key and settings that make every agent verified at once."""
    from chalicelib.config import reset_settings

    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "0")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_APPROVALS", "0")
    monkeypatch.setenv("RATE_LIMIT_AGENT_PER_MIN", "10000")
    monkeypatch.setenv("RATE_LIMIT_ADMIN_PER_MIN", "10000")
    monkeypatch.setenv("RATE_LIMIT_REGISTER_PER_MIN", "10000")
    reset_settings()
    with api_client() as api:
        key, agent = api.register("submitter")
        yield PeerWorld(api=api, db=db, admin=admin_key(), submitter_key=key, submitter_id=agent["id"])


def fake_reviews(db: str, count: int, *, mode: str = "shadow", layer_b: str = "approved") -> list[UUID]:
    """``count`` decided submissions with an open-and-closed peer review row (for report fixtures)."""
    owner, agent = uuid4(), uuid4()
    ids = [uuid4() for _ in range(count)]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO agents (id, kind, name, owner_id) VALUES (%s, 'agent', 'fixture', %s)",
                     (agent, owner))
        for sub_id in ids:
            conn.execute(
                "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by,"
                " decided_at) VALUES (%s, %s, 'problem', 't', 'b', 'h', %s, 'layer_b', now())",
                (sub_id, agent, layer_b))
            conn.execute(
                "INSERT INTO consensus_decisions (submission_id, mode, layer_b_decision, layer_b_valid, assigned,"
                " opened_at, expires_at, status, outcome, decided_at, cause)"
                " VALUES (%s, %s, %s, true, 6, now(), now() + interval '30 minutes', 'decided', 'approved', now(),"
                " 'quorum')",
                (sub_id, mode, layer_b))
    return ids


def trail_stages(detail: dict[str, Any]) -> list[str]:
    return [t["stage"] for t in detail["trail"]]


def stage(detail: dict[str, Any], name: str) -> dict[str, Any]:
    """The verdict of the last trail entry of a stage (later stages, e.g. a spot check, may follow)."""
    entries = [t["verdict"] for t in detail["trail"] if t["stage"] == name]
    assert entries, (name, trail_stages(detail))
    return dict(entries[-1])
