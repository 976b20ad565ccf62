"""Which handler consumes each outbox topic when everything runs in one process."""

from __future__ import annotations

from typing import Any

from chalicelib.entrypoints.workers import HANDLERS
from local.dispatcher import Handler


def privacy(event: dict[str, Any], context: Any) -> Any:
    """The privacy function (not part of the Chalice app); imported on first use, with its imaging stack."""
    from functions.privacy.handler import handler

    return handler(event, context)


def local_handlers() -> dict[str, Handler]:
    handlers: dict[str, Any] = dict(HANDLERS)
    handlers["privacy"] = privacy
    return handlers
