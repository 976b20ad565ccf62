"""HTTP routes, one blueprint per resource."""

from chalicelib.entrypoints.api import (
    admin_economy,
    admin_flags,
    admin_guardrails,
    admin_ops,
    admin_peer,
    admin_reviews,
    agents,
    attestations,
    compliance,
    credits,
    evaluations,
    evidence,
    health,
    missions,
    submissions,
    validators,
)

BLUEPRINTS = [
    health.bp,
    agents.bp,
    submissions.bp,
    credits.bp,
    admin_economy.bp,
    admin_guardrails.bp,
    admin_reviews.bp,
    compliance.bp,
    evaluations.bp,
    validators.bp,
    admin_flags.bp,
    admin_peer.bp,
    admin_ops.bp,
    evidence.bp,
    attestations.bp,
    missions.bp,
]
