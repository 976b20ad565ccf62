"""Streamed answers: an HTTP front that can send a body chunk by chunk (the local WSGI server) opens a
slot for the request it serves; a route that finds one hands its chunks over instead of a body.
Lambda and API Gateway buffer every answer, so there no slot exists and routes answer otherwise.

The slot is per thread: the front serves each request on one thread, through the route, to its end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

_local = threading.local()


class Chunks(Protocol):
    """What a route hands over: iterable once, and closed by the front whatever happens (PEP 3333)."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@dataclass
class Slot:
    chunks: Chunks | None = None


@contextmanager
def streaming_front() -> Iterator[Slot]:
    """Used by a front that streams, around the one request it is serving."""
    slot = Slot()
    _local.slot = slot
    try:
        yield slot
    finally:
        _local.slot = None


def can_stream() -> bool:
    return getattr(_local, "slot", None) is not None


def hand_off(chunks: Chunks) -> None:
    """Give the front the chunks to send after the route's headers (only when can_stream())."""
    slot: Slot | None = getattr(_local, "slot", None)
    if slot is None:
        raise RuntimeError("this front does not stream")
    slot.chunks = chunks
