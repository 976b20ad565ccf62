"""The outside systems use cases talk to, besides the database: protocols only.

`chalicelib/bootstrap.py` picks the implementations (`chalicelib/adapters/`); tests may pass fakes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from chalicelib.domain.alert_rules import AlertMessage
from chalicelib.domain.blobs import Action, DownloadLink, UploadTicket


class Notifier(Protocol):
    """One alert channel (log, SNS, webhook, e-mail)."""

    channel: str

    def send(self, message: AlertMessage) -> None:
        """Deliver one message or raise."""


class OperationalProbes(Protocol):
    """Figures measured outside the database: the queues' dead letters and this process's pool."""

    def dead_letter_depths(self, client: Any = None) -> dict[str, int | None]:
        """Messages waiting in each dead-letter queue (none locally, where the outbox holds the dead)."""

    def pool_stats(self) -> dict[str, int]:
        """The connection pool's figures (empty when the pool is not open)."""


class BlobStore(Protocol):
    """Where evidence photos live: S3 in AWS, a directory locally."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes, or BlobNotFound."""

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    def exists(self, key: str) -> bool: ...

    def presign_upload(self, key: str, *, content_type: str, size_bytes: int, expires_s: int) -> UploadTicket: ...

    def presign_download(self, key: str, *, expires_s: int) -> DownloadLink: ...


@runtime_checkable
class LocalUploadStore(BlobStore, Protocol):
    """A store the API itself receives uploads for (local mode): it checks its own signed tokens."""

    def verify(self, token: str, key: str, action: Action, *, content_type: str = "", size_bytes: int = 0,
               now: float | None = None) -> bool: ...
