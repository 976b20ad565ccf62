"""HTTP routes, one blueprint per resource."""

from chalicelib.entrypoints.api import agents, credits, health, submissions

BLUEPRINTS = [health.bp, agents.bp, submissions.bp, credits.bp]
