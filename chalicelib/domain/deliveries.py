"""Partner deliveries, the pure rules: cron schedules, targets (and which addresses they may reach),
filters, payload formats, signatures and retry backoff. No I/O here."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from croniter import croniter

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.hyperlocal import haversine_m

Format = Literal["jsonl", "csv"]
MAX_ATTEMPTS = 3
# A run delivers content decided up to this long before it was created: a transaction that decided
# something just before the cut has committed by then (statements time out after 15 s).
SETTLE_DELAY = timedelta(seconds=60)
SIGNATURE_TOLERANCE_S = 300
CSV_COLUMNS = ("id", "kind", "title", "body", "domain", "latitude", "longitude", "decided_at", "decided_by",
               "route_path", "created_at")
CONTENT_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class Sent:
    """A delivered payload: the webhook's answer code, or where the object was written."""

    response_code: int | None
    location: str | None = None


class DeliveryFailed(Exception):
    """One attempt failed (network, timeout, non-2xx answer, refused target)."""

    def __init__(self, message: str, response_code: int | None = None) -> None:
        super().__init__(message)
        self.response_code = response_code


# --- cron ------------------------------------------------------------------------------------------

def check_cron(expression: str) -> str:
    """A valid five-field cron expression (minute hour day month weekday), normalised; 400 otherwise."""
    normalised = " ".join(expression.split())
    if len(normalised.split(" ")) != 5 or not croniter.is_valid(normalised):
        raise ValidationFailed("cron must be a valid five-field expression (minute hour day month weekday)",
                               details=[{"field": "cron", "message": "not a valid cron expression"}])
    return normalised


def next_runs(expression: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` run times strictly after `after`, in UTC."""
    it = croniter(expression, after.astimezone(UTC))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


# --- targets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    kind: Literal["webhook", "s3"]
    url: str
    host: str = ""
    port: int = 443
    scheme: str = "https"
    bucket: str = ""
    prefix: str = ""


def parse_target(url: str, *, allow_local_http: bool) -> Target:
    """An HTTPS webhook URL or an `s3://bucket/prefix`. Plain http is accepted only for loopback
    hosts and only where `allow_local_http` (the local stage)."""
    parts = urlsplit(url.strip())
    if parts.scheme == "s3":
        bucket, prefix = parts.netloc, parts.path.strip("/")
        if not bucket or parts.query or parts.fragment:
            raise _bad_target("an S3 target is s3://bucket/prefix")
        return Target(kind="s3", url=url.strip(), bucket=bucket, prefix=prefix)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _bad_target("a webhook target must be an https:// URL (or s3://bucket/prefix)")
    if parts.username or parts.password:
        raise _bad_target("credentials in the URL are not accepted; the payload is signed instead")
    if parts.scheme == "http" and not (allow_local_http and _is_loopback_name(parts.hostname)):
        raise _bad_target("webhook targets must use https")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _bad_target("the URL's port is not valid") from None
    return Target(kind="webhook", url=url.strip(), host=parts.hostname, port=port, scheme=parts.scheme)


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def forbidden_addresses(addresses: Iterable[str]) -> list[str]:
    """The addresses a delivery may not reach: private, loopback, link-local, multicast, reserved,
    unspecified or otherwise not globally routable (IPv4-mapped IPv6 judged as its IPv4)."""
    bad = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if (not address.is_global or address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified):
            bad.append(text)
    return bad


def _bad_target(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": "target", "message": message}])


# --- filters ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegionFilter:
    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True)
class DeliveryFilter:
    """Which approved content a partner receives. Empty lists mean "any"."""

    domains: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    regions: tuple[RegionFilter, ...] = field(default_factory=tuple)

    def matches(self, item: dict[str, Any]) -> bool:
        if self.domains and item.get("domain") not in self.domains:
            return False
        if self.kinds and item.get("kind") not in self.kinds:
            return False
        if self.regions:
            lat, lng = item.get("latitude"), item.get("longitude")
            if lat is None or lng is None:
                return False
            return any(haversine_m(lat, lng, r.latitude, r.longitude) <= r.radius_km * 1000 for r in self.regions)
        return True

    @classmethod
    def of(cls, raw: dict[str, Any]) -> DeliveryFilter:
        return cls(
            domains=tuple(raw.get("domains") or ()), kinds=tuple(raw.get("kinds") or ()),
            regions=tuple(RegionFilter(r["latitude"], r["longitude"], r["radius_km"])
                          for r in raw.get("regions") or ()),
        )


# --- payloads --------------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def item_of(row: dict[str, Any]) -> dict[str, Any]:
    """One delivered item, columns in the stable order of CSV_COLUMNS."""
    return {column: _cell(row.get(column)) if column != "id" else str(row["id"]) for column in CSV_COLUMNS}


def encode(items: Sequence[dict[str, Any]], fmt: Format) -> bytes:
    """JSON lines (one object per line) or RFC 4180 CSV (header, CRLF, quoted as needed)."""
    if fmt == "jsonl":
        return "".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) + "\n" for i in items).encode()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(["" if item[c] is None else item[c] for c in CSV_COLUMNS])
    return buffer.getvalue().encode()


# --- signatures ------------------------------------------------------------------------------------

def sign(secret: str, body: bytes, timestamp: int) -> str:
    """`X-Peerguard-Signature`: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver checks: a valid HMAC of this body, signed within `tolerance_s` of now."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={fields.get('v1', '')}")


# --- retries ---------------------------------------------------------------------------------------

def retry_delay_s(attempt: int, base_s: float) -> float:
    """Exponential backoff after failed attempt number `attempt` (1-based): base, 2 x base, 4 x base."""
    return float(base_s * 2 ** (attempt - 1))


def next_status(attempt: int, ok: bool) -> Literal["succeeded", "retrying", "failed"]:
    """After attempt number `attempt`: done, try again later, or give up (after MAX_ATTEMPTS)."""
    if ok:
        return "succeeded"
    return "retrying" if attempt < MAX_ATTEMPTS else "failed"
