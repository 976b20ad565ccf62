"""Which handler consumes each outbox topic when everything runs in one process."""

from __future__ import annotations

from typing import Any

from chalicelib.entrypoints.workers import HANDLERS
from local.dispatcher import Handler


def local_handlers() -> dict[str, Handler]:
    handlers: dict[str, Any] = dict(HANDLERS)
    return handlers
