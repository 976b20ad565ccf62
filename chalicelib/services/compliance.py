"""The agent compliance score over the last 30 days, and the gate other stages ask before trusting
an agent with the peer path or validator duty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.domain import compliance
from chalicelib.domain.errors import NotFound
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ComplianceReport:
    agent_id: UUID
    counts: compliance.ComplianceCounts
    score: int
    as_of: datetime

    @property
    def compliant(self) -> bool:
        return compliance.is_compliant(self.score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "score": self.score,
            "compliant": self.compliant,
            "threshold": compliance.THRESHOLD,
            "window_days": compliance.WINDOW.days,
            "counts": {
                "layer_a_blocks": self.counts.layer_a_blocks,
                "admin_overturns": self.counts.admin_overturns,
                "flags": self.counts.flags,
            },
            "weights": {
                "layer_a_blocks": compliance.LAYER_A_BLOCK_WEIGHT,
                "admin_overturns": compliance.ADMIN_OVERTURN_WEIGHT,
                "flags": compliance.FLAG_WEIGHT,
            },
            "as_of": self.as_of,
        }


def counts(uow: UnitOfWork, agent_id: UUID, now: datetime) -> compliance.ComplianceCounts:
    """What counts against the agent in the 30 days up to ``now``."""
    return _counts(*uow.compliance.evidence(agent_id, since=now - compliance.WINDOW, until=now))


def _counts(blocks: int, overturns: int, flagged: list[dict[str, Any]]) -> compliance.ComplianceCounts:
    return compliance.ComplianceCounts(
        layer_a_blocks=blocks, admin_overturns=overturns,
        flags=sum(1 for verdict in flagged if compliance.counts_as_flag(verdict)),
    )


def report(uow: UnitOfWork, agent_id: UUID, now: datetime | None = None) -> ComplianceReport:
    """The agent's score with its counts, in the caller's transaction."""
    now = now or uow.clock.now()
    found = counts(uow, agent_id, now)
    return ComplianceReport(agent_id=agent_id, counts=found, score=compliance.score(found), as_of=now)


def compliant_agents(uow: UnitOfWork, agent_ids: Sequence[UUID], now: datetime) -> dict[UUID, bool]:
    """`compliance_ok` of several agents, read in one statement (the validators an assignment picks)."""
    found = uow.compliance.evidence_many(agent_ids, since=now - compliance.WINDOW, until=now)
    return {agent_id: compliance.is_compliant(compliance.score(_counts(*evidence)))
            for agent_id, evidence in found.items()}


def compliance_ok(uow: UnitOfWork, agent_id: UUID, now: datetime | None = None) -> bool:
    """Whether the agent may take the peer path and serve as a validator (score >= 60)."""
    return report(uow, agent_id, now).compliant


def agent_compliance(uow: UnitOfWork, agent_id: UUID, now: datetime | None = None) -> ComplianceReport:
    """Use case: read an agent's compliance report; NotFound for an unknown agent."""
    with uow:
        if uow.agents.get_agent(agent_id) is None:
            raise NotFound("agent not found")
        return report(uow, agent_id, now)
