"""Maintenance functions invoked by the deploy pipeline, not by users."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.observability import logger

bp = Blueprint(__name__)


@bp.lambda_function(name="migrate")
def migrate_database(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Apply pending migrations (run once after each deploy; safe to repeat)."""
    applied = bootstrap.migrate_database()
    logger.info("migrations applied", extra={"applied": applied})
    return {"applied": applied}
