"""The outside systems use cases talk to, besides the database: protocols only.

`chalicelib/bootstrap.py` picks the implementations (`chalicelib/adapters/`); tests may pass fakes.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from chalicelib.domain.alert_rules import AlertMessage
from chalicelib.domain.blobs import Action, DownloadLink, UploadTicket
from chalicelib.domain.deliveries import Sent, Target


class Clock(Protocol):
    """Where use cases read the time: the system clock in service, a pinned one in tests
    (`bootstrap.install_clock`). Every unit of work carries one (`uow.clock`)."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


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


class FieldCipher(Protocol):
    """Envelope encryption of personal columns and keyed blind indexes (`adapters/field_crypto.py`)."""

    @property
    def current_key_id(self) -> str: ...

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Seal a value for the column named by `context` under the current key: an `enc1:` token."""

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext of a token made for the same context; ValueError when it does not decrypt."""

    def encrypt_json(self, value: Any, *, context: str) -> str: ...

    def decrypt_json(self, token: str, *, context: str) -> Any: ...

    def reencrypt(self, token: str, *, context: str) -> str:
        """The same plaintext under the current key (the token itself when it already is)."""

    def blind_index(self, value: str, *, purpose: str) -> str:
        """A keyed hash of the normalised value, per purpose, for lookups and for addresses kept as hashes."""


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


class JobLocks(Protocol):
    """Locks that keep two runs of one long job apart across its many transactions (released if the
    process dies). (`adapters/job_locks.py`)."""

    def hold(self, name: str) -> AbstractContextManager[bool]:
        """Try to take the lock: yields True while held, False when another run holds it."""


class DeliveryTargets(Protocol):
    """Partner delivery targets: HTTPS webhooks (address checks against SSRF) and S3 prefixes.
    (`adapters/delivery_targets.py`)."""

    def vet(self, target: Target, *, strict: bool) -> None:
        """Raise ValidationFailed when the target's host resolves to an address a delivery may not reach."""

    def post_webhook(self, target: Target, body: bytes, headers: dict[str, str], *, timeout_s: float,
                     strict: bool) -> Sent:
        """POST the payload; DeliveryFailed on any failure or non-2xx answer."""

    def put_s3(self, target: Target, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> Sent:
        """Write the payload as one object under the target's prefix; DeliveryFailed on failure."""


class ExportStore(Protocol):
    """Where exports too large to answer inline are written: S3 (multipart, constant memory), or a
    directory locally; the operator downloads them through a link that expires
    (`adapters/export_store.py`)."""

    def write(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> int:
        """Store the chunks as one object; the number of bytes written."""

    def link(self, key: str, *, filename: str, expires_s: int) -> DownloadLink: ...

    # A multipart upload written across many invocations (export jobs): each part is at least 5 MiB
    # except the last; uploading a part number again replaces it.
    def start_upload(self, key: str, *, content_type: str) -> str:
        """A new multipart upload of ``key``; its upload id."""

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Store part ``number`` (from 1); its ETag."""

    def complete_upload(self, key: str, upload_id: str, parts: Sequence[Mapping[str, Any]]) -> None:
        """Join the parts ({"PartNumber", "ETag"}, in order) into the object."""

    def abort_upload(self, key: str, upload_id: str) -> None: ...

    def size(self, key: str) -> int | None:
        """The stored object's size in bytes; None when there is none."""

    def read(self, key: str) -> Generator[bytes, None, None]:
        """The object's bytes in chunks (local mode serves job files through an authenticated route)."""
