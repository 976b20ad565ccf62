"""Use cases of operator exports: stream an export chunk by chunk , answer it inline
when it is small, or write it to the export store behind an expiring link when it is not."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from chalicelib.domain import exports, trends
from chalicelib.domain.errors import ValidationFailed
from chalicelib.services.ports import ExportStore
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ExportRequest:
    kind: exports.ExportKind
    fmt: exports.ExportFormat
    start: date  # first day, included (UTC)
    end: date  # last day, included (UTC)

    @property
    def filename(self) -> str:
        return exports.filename(self.kind, self.start, self.end, self.fmt)

    @property
    def media_type(self) -> str:
        return exports.MEDIA_TYPES[self.fmt]


def check(request: ExportRequest, today: date) -> ExportRequest:
    """ValidationFailed unless the range is at most a year of days, in order, not in the future."""
    try:
        trends.check_range(request.start, request.end, today=today,
                           max_days=trends.EXPORT_MAX_RANGE_DAYS)
    except trends.RangeError as exc:
        raise ValidationFailed(str(exc), details={"from": request.start.isoformat(),
                                                  "to": request.end.isoformat()}) from exc
    return request


def bounds(request: ExportRequest, *, as_of: datetime | None = None) -> tuple[date | datetime, date | datetime]:
    """What the export's queries read: the days themselves for trends, else [first day's start, last
    day's end), ended at ``as_of`` when given (a job exports what existed when it was asked for)."""
    if request.kind == "trends":
        return request.start, request.end
    start, _ = trends.day_bounds(request.start)
    _, end = trends.day_bounds(request.end)
    return start, min(end, as_of) if as_of is not None else end


def _rows(uow: UnitOfWork, request: ExportRequest) -> Iterator[dict[str, Any]]:
    start, _ = trends.day_bounds(request.start)
    _, end = trends.day_bounds(request.end)
    if request.kind == "decisions":
        return uow.exports.decision_rows(start=start, end=end)
    if request.kind == "trends":
        return uow.exports.trend_rows(start=request.start, end=request.end)
    if request.kind == "compliance":
        return uow.exports.compliance_rows(start=start, end=end)
    return uow.exports.ledger_rows(start=start, end=end)


def stream(uow: UnitOfWork, request: ExportRequest, tally: exports.Tally | None = None) -> Generator[bytes, None, None]:
    """Use case: the export as chunks, read through a server-side cursor (one statement: a consistent
    snapshot); memory holds one fetch and one chunk whatever the row count. The
    transaction ends when the iterator is exhausted or closed."""
    with uow:
        yield from exports.encode(request.kind, _rows(uow, request), request.fmt, tally=tally)


@dataclass(frozen=True)
class Inline:
    body: bytes
    rows: int


@dataclass(frozen=True)
class Stored:
    url: str
    expires_at: datetime
    key: str
    rows: int
    bytes: int


def inline_or_stored(uow: UnitOfWork, store: ExportStore, request: ExportRequest, *, max_inline_bytes: int,
                     link_ttl_s: int, now: datetime | None = None) -> Inline | Stored:
    """Use case for fronts that buffer responses (Lambda: 6 MB at most): the export itself when it
    fits in ``max_inline_bytes``; otherwise it is written again, streamed, to the export store, and
    the answer is a link that expires."""
    tally = exports.Tally()
    buffered = bytearray()
    chunks = stream(uow, request, tally)
    try:
        for chunk in chunks:
            buffered.extend(chunk)
            if len(buffered) > max_inline_bytes:
                break
        else:
            return Inline(body=bytes(buffered), rows=tally.rows)
    finally:
        chunks.close()
    del buffered
    now = now or uow.clock.now()
    key = f"exports/{now:%Y/%m/%d}/{uuid4().hex}/{request.filename}"
    tally = exports.Tally()
    written = store.write(key, stream(uow, request, tally), content_type=request.media_type)
    link = store.link(key, filename=request.filename, expires_s=link_ttl_s)
    return Stored(url=link.url, expires_at=link.expires_at, key=key, rows=tally.rows, bytes=written)
