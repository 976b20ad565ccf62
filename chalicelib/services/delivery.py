"""After a transaction commits, push its outbox messages on at once (the sweeper is the safety net)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.observability import logger
from chalicelib.services.outbox_relay import relay


def relay_after_commit(outbox_ids: Sequence[int]) -> None:
    """Best effort: a failure here only delays the message until the next sweep."""
    if not outbox_ids or get_settings().dispatch_mode != "sqs":
        return  # locally the dispatcher polls the outbox continuously
    try:
        relay(bootstrap.sender(), ids=outbox_ids)
    except Exception:
        logger.exception("immediate relay failed; the sweeper will send later")
