"""What a blob store hands out: upload tickets, download links, and its one failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Action = Literal["upload", "download"]


class BlobNotFound(LookupError):
    """No object under that key."""


@dataclass(frozen=True)
class UploadTicket:
    """How the client uploads: PUT the bytes to ``url`` with exactly these headers before expiry."""

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime
