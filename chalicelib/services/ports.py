"""The outside systems use cases talk to, besides the database: protocols only.

`chalicelib/bootstrap.py` picks the implementations (`chalicelib/adapters/`); tests may pass fakes.
"""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.domain.alert_rules import AlertMessage


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
