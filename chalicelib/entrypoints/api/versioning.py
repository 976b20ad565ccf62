"""The versioning policy in code: the contract version and the deprecation registry.

Every answer carries `API-Version`. A route (or a field of a response model) is deprecated by one
entry in `DEPRECATIONS` below; the framework then adds `Deprecation` (RFC 9745), `Sunset`
(RFC 8594) and `Link: <successor>; rel="successor-version"` to its answers, and the OpenAPI
document marks it `deprecated: true`. Tests swap the registry with `use_registry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

# The contract's version: the major is the path prefix (/v1); minor releases add, never remove.
API_VERSION = "1.1.0"
# A sunset is announced at least this long after the deprecation is (docs/api.md, "Versioning").
MIN_NOTICE = timedelta(days=183)


@dataclass(frozen=True)
class Deprecation:
    """One deprecated route (`field` None) or one deprecated field of a response model."""

    method: str
    path: str
    deprecated_at: datetime
    sunset_at: datetime
    successor: str | None = None  # path or URL of what replaces it
    field: str | None = None  # "Model.field" when only a field is deprecated

    def __post_init__(self) -> None:
        if self.deprecated_at.tzinfo is None or self.sunset_at.tzinfo is None:
            raise ValueError("deprecation dates must be timezone-aware")
        if self.sunset_at - self.deprecated_at < MIN_NOTICE:
            raise ValueError(f"{self.method} {self.path}: a sunset needs six months' notice")
        if self.field is not None and "." not in self.field:
            raise ValueError("a deprecated field is named Model.field")

    def headers(self, docs_url: str = "/v1/openapi.json") -> dict[str, str]:
        """The answer headers of a deprecated route (fields are documented, not announced per call)."""
        links = [f'<{docs_url}>; rel="deprecation"; type="application/json"']
        if self.successor:
            links.insert(0, f'<{self.successor}>; rel="successor-version"')
        return {
            "Deprecation": f"@{int(self.deprecated_at.timestamp())}",
            "Sunset": format_datetime(self.sunset_at.astimezone(UTC), usegmt=True),
            "Link": ", ".join(links),
        }


# The registry. Add an entry here to deprecate a route; never delete a route before its sunset.
DEPRECATIONS: list[Deprecation] = []

_active: list[Deprecation] = DEPRECATIONS


def registry() -> list[Deprecation]:
    return _active


def route_deprecation(method: str, path: str) -> Deprecation | None:
    """The deprecation of a whole route, if any."""
    for entry in _active:
        if entry.field is None and entry.method == method and entry.path == path:
            return entry
    return None


def deprecated_fields() -> set[tuple[str, str]]:
    """(model name, field name) pairs that are deprecated."""
    pairs: set[tuple[str, str]] = set()
    for entry in _active:
        if entry.field is not None:
            model, name = entry.field.split(".", 1)
            pairs.add((model, name))
    return pairs


@contextmanager
def use_registry(entries: list[Deprecation]) -> Iterator[None]:
    """Serve with another registry for a while (tests)."""
    global _active  # noqa: PLW0603 - one registry per process
    previous = _active
    _active = entries
    try:
        yield
    finally:
        _active = previous

