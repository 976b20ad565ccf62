"""After a transaction commits, push its outbox messages on at once (the sweeper is the safety net)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chalicelib.observability import logger
from chalicelib.services.outbox_relay import relay
from chalicelib.services.unit_of_work import MessageSender, UnitOfWork


def relay_after_commit(uow: UnitOfWork, sender: Callable[[], MessageSender], outbox_ids: Sequence[int], *,
                       dispatch_mode: str) -> None:
    """Best effort: a failure here only delays the message until the next sweep."""
    if not outbox_ids or dispatch_mode != "sqs":
        return  # locally the dispatcher polls the outbox continuously
    try:
        relay(uow, sender(), ids=outbox_ids)
    except Exception:
        logger.exception("immediate relay failed; the sweeper will send later")
