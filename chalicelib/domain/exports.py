"""Pure rules of operator exports: the columns of each export in their fixed order, and the encoders
that turn rows into RFC 4180 CSV or a JSON array, chunk by chunk (memory stays constant whatever
the number of rows).

- CSV: a header line, CRLF line ends, a field quoted when it holds a comma, a quote, CR or LF, and
  quotes doubled inside it (RFC 4180). A text field starting with = + - @ TAB or CR is prefixed with
  an apostrophe so a spreadsheet never runs it as a formula (the text comes from agents).
- JSON: one array of objects whose keys follow the column order.
- Timestamps are ISO 8601 in UTC (``2026-12-05T12:00:00.000000Z``), days ``YYYY-MM-DD``, credits
  decimal strings with three places; empty values are empty fields (CSV) or null (JSON).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

ExportKind = Literal["decisions", "trends", "compliance", "ledger"]
ExportFormat = Literal["csv", "json"]
KINDS: tuple[ExportKind, ...] = ("decisions", "trends", "compliance", "ledger")

COLUMNS: dict[ExportKind, tuple[str, ...]] = {
    # title and body are the stored texts, which Layer A masked (PII) before they were ever written
    "decisions": ("submission_id", "agent_id", "kind", "domain", "route", "path", "outcome", "cost_credits",
                  "created_at", "decided_at", "title", "body"),
    "trends": ("day", "metric", "series", "value"),
    "compliance": ("occurred_at", "agent_id", "submission_id", "event", "categories"),
    "ledger": ("leg_id", "entry_id", "created_at", "entry_kind", "account", "agent_id", "amount_credits",
               "balance_after_credits"),
}
# Free text written by agents: neutralised against spreadsheet formulas in CSV.
TEXT_COLUMNS = frozenset({"title", "body", "domain", "categories"})
CREDIT_COLUMNS = frozenset({"cost_credits", "amount_credits", "balance_after_credits"})
MEDIA_TYPES: dict[ExportFormat, str] = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
CHUNK_BYTES = 64 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def credits(millicredits: int) -> str:
    """Integer millicredits as a decimal string of credits: 1500 -> '1.500', -2 -> '-0.002'."""
    return str((Decimal(int(millicredits)) / 1000).quantize(Decimal("0.001")))


def plain(column: str, value: Any) -> Any:
    """A value as JSON would carry it (str, int, float, bool or None), in the export's conventions."""
    if value is None:
        return None
    if column in CREDIT_COLUMNS:
        return credits(int(value))
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def csv_field(column: str, value: Any) -> str:
    shown = plain(column, value)
    if shown is None:
        return ""
    if isinstance(shown, bool):
        return "true" if shown else "false"
    text = shown if isinstance(shown, str) else repr(shown) if isinstance(shown, float) else str(shown)
    if column in TEXT_COLUMNS and text.startswith(_FORMULA_START):
        text = "'" + text
    return text


@dataclass
class Tally:
    """What an encoder has produced so far (filled in as the chunks are consumed)."""

    rows: int = 0
    bytes: int = 0
    done: bool = field(default=False)


def head(kind: ExportKind, fmt: ExportFormat) -> str:
    """What comes before the first row: the CSV header line, or the JSON array's opening bracket."""
    if fmt == "csv":
        return ",".join(COLUMNS[kind]) + "\r\n"
    return "["


def tail(fmt: ExportFormat, *, any_rows: bool) -> str:
    """What comes after the last row."""
    if fmt == "csv":
        return ""
    return "\n]\n" if any_rows else "]\n"


def encode_rows(kind: ExportKind, rows: Iterable[Mapping[str, Any]], fmt: ExportFormat, *,
                first: bool) -> str:
    """Rows as the export writes them; ``first`` when the first of them is the export's first row
    (a JSON separator goes before every other). Pieces of an export written page by page join to
    exactly what ``encode`` streams."""
    columns = COLUMNS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        _write_row(buffer, writer, columns, row, fmt, first=first)
        first = False
    return buffer.getvalue()


def _write_row(buffer: io.StringIO, writer: Any, columns: Sequence[str], row: Mapping[str, Any],
               fmt: ExportFormat, *, first: bool) -> None:
    """One row in the export's format: a CSV record, or a JSON object after its separator."""
    if fmt == "csv":
        writer.writerow([csv_field(c, row.get(c)) for c in columns])
    else:
        buffer.write("\n" if first else ",\n")
        buffer.write(json.dumps({c: plain(c, row.get(c)) for c in columns}, ensure_ascii=False,
                                separators=(",", ":")))


def encode(kind: ExportKind, rows: Iterable[Mapping[str, Any]], fmt: ExportFormat, *,
           tally: Tally | None = None, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The export as UTF-8 chunks of about ``chunk_bytes`` each; ``tally`` counts rows and bytes."""
    tally = tally if tally is not None else Tally()
    columns = COLUMNS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def take() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        tally.bytes += len(data)
        return data

    buffer.write(head(kind, fmt))
    first = True
    for row in rows:
        _write_row(buffer, writer, columns, row, fmt, first=first)
        first = False
        tally.rows += 1
        if buffer.tell() >= chunk_bytes:
            yield take()
    buffer.write(tail(fmt, any_rows=not first))
    tally.done = True
    last = take()
    if last:
        yield last


def filename(kind: ExportKind, start: date, end: date, fmt: ExportFormat) -> str:
    return f"peerguard-{kind}-{start.isoformat()}-{end.isoformat()}.{fmt}"
