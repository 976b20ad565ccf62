"""HTTP routes, one blueprint per resource."""

from chalicelib.entrypoints.api import (
    admin_guardrails,
    admin_reviews,
    agents,
    compliance,
    credits,
    health,
    submissions,
)

BLUEPRINTS = [
    health.bp,
    agents.bp,
    submissions.bp,
    credits.bp,
    admin_guardrails.bp,
    admin_reviews.bp,
    compliance.bp,
]
