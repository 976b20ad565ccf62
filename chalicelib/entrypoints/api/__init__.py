"""HTTP routes, one blueprint per resource."""

from chalicelib.entrypoints.api import agents, attestations, credits, evidence, health, missions, submissions

BLUEPRINTS = [health.bp, agents.bp, submissions.bp, credits.bp, evidence.bp, attestations.bp, missions.bp]
