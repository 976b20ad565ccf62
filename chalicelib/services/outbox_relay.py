"""Relay the outbox: lease due messages, hand them to a sender, record what went out."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.observability import logger
from chalicelib.services.unit_of_work import MessageSender, UnitOfWork


def relay(uow: UnitOfWork, sender: MessageSender, *, ids: Sequence[int] | None = None, limit: int = 50,
          topic: str | None = None) -> int:
    """Send due messages (or just `ids`, e.g. those a request has just committed; of one `topic` when
    given, as one queue's consumer); returns how many went.

    Messages are leased before sending, so concurrent relays never send the same row twice in a row;
    a failed send backs off and, after a few attempts, the message is parked as dead.
    """
    with uow:
        batch = uow.outbox.claim(limit=limit, ids=ids, topic=topic)
    if not batch:
        return 0
    try:
        failed = sender.send(batch)
    except Exception as exc:  # the sender is an outside system: record, back off, retry later
        logger.exception("outbox relay failed")
        with uow:
            uow.outbox.mark_failed(batch, type(exc).__name__)
        return 0
    with uow:
        uow.outbox.mark_sent([m.id for m in batch if m.id not in failed])
        uow.outbox.mark_failed([m for m in batch if m.id in failed], "delivery failed")
    return len(batch) - len(failed)


def sweep(uow: UnitOfWork, sender: MessageSender, *, max_batches: int = 20) -> int:
    """Send everything due, a batch at a time (the per-minute schedule)."""
    total = 0
    for _ in range(max_batches):
        sent = relay(uow, sender)
        total += sent
        if sent == 0:
            break
    return total
