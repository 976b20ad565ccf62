"""The composition root: the only place that picks adapters, built lazily on first use.

The API (`app.py`), every worker and schedule (`entrypoints/`), the privacy function
(`functions/privacy/`) and the local runner (`local/`) ask here for a unit of work and for the
outside systems a use case needs; nothing connects or loads a heavy client at import.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.postgres_uow import PostgresUnitOfWork
from chalicelib.config import anthropic_api_key, database_url, get_settings, pii_index_secret
from chalicelib.db import pool
from chalicelib.domain.blobs import Action
from chalicelib.domain.hyperlocal import PairVerifier
from chalicelib.domain.layer_b import Classifier
from chalicelib.services import delivery
from chalicelib.services.ports import (
    BlobStore,
    Clock,
    DeliveryTargets,
    ExportStore,
    JobLocks,
    Notifier,
    OperationalProbes,
)
from chalicelib.services.unit_of_work import MessageSender, UnitOfWork

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.adapters.field_crypto import FieldCipher

_clock: Clock = SystemClock()


def clock() -> Clock:
    """The clock every use case reads (through `uow.clock`): the system's, unless one is installed."""
    return _clock


def install_clock(pinned: Clock | None) -> None:
    """Pin the time of every use case (tests, demos); None goes back to the system clock."""
    global _clock  # noqa: PLW0603 - one clock per process
    _clock = pinned if pinned is not None else SystemClock()


def unit_of_work() -> UnitOfWork:
    """A fresh unit of work on the PostgreSQL pool; what it enqueues is relayed after commit."""
    return PostgresUnitOfWork(relay=relay_after_commit, clock=_clock, cipher=field_cipher)


def relay_after_commit(outbox_ids: Sequence[int]) -> None:
    """Push just-committed outbox messages on at once (SQS mode only; the sweeper is the safety net)."""
    delivery.relay_after_commit(PostgresUnitOfWork(clock=_clock), sender, outbox_ids,
                                dispatch_mode=get_settings().dispatch_mode)


_process_secret: bytes | None = None


def _local_secret() -> bytes:
    global _process_secret  # noqa: PLW0603 - one random secret per process when none is configured
    configured = get_settings().upload_token_secret
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    if _process_secret is None:
        _process_secret = secrets.token_bytes(32)
    return _process_secret


def blob_store() -> BlobStore:
    """The evidence store of this process: S3 in AWS, a directory in local mode (see EVIDENCE_STORE)."""
    settings = get_settings()
    kind = settings.evidence_store
    if kind == "auto":
        kind = "local" if settings.dispatch_mode == "local" else "s3"
    if kind == "s3":
        return _s3_store(settings.evidence_bucket, settings.aws_region)
    return _local_store(settings.blob_dir, settings.public_base_url.rstrip("/"), _local_secret())


@lru_cache(maxsize=4)
def _s3_store(bucket: str, region: str) -> BlobStore:
    from chalicelib.adapters.blob_store import S3BlobStore

    return S3BlobStore(bucket, region=region)


@lru_cache(maxsize=4)
def _local_store(blob_dir: str, base_url: str, secret: bytes) -> BlobStore:
    from chalicelib.adapters.blob_store import LocalBlobStore

    def url_for(key: str, action: Action) -> str:
        evidence_id = key.split("/", 1)[1].split(".", 1)[0]
        return f"{base_url}/v1/evidence/{evidence_id}/{action}"

    return LocalBlobStore(root=Path(blob_dir), url_for=url_for, secret=secret)


def subject_export_store() -> BlobStore:
    """Where data-subject exports are kept: the evidence store (a presigned S3 GET in AWS); locally the
    same directory, with links that point at the export route."""
    settings = get_settings()
    kind = settings.evidence_store
    if kind == "auto":
        kind = "local" if settings.dispatch_mode == "local" else "s3"
    if kind == "s3":
        return _s3_store(settings.evidence_bucket, settings.aws_region)
    return _local_export_store(settings.blob_dir, settings.public_base_url.rstrip("/"), _local_secret())


@lru_cache(maxsize=4)
def _local_export_store(blob_dir: str, base_url: str, secret: bytes) -> BlobStore:
    from chalicelib.adapters.blob_store import LocalBlobStore

    def url_for(key: str, action: Action) -> str:
        # exports/<request id>-<random>.zip -> the route that serves it; the token rides in the query.
        request_id = "-".join(key.split("/", 1)[1].split("-", 5)[:5])
        return f"{base_url}/v1/privacy/exports/{request_id}"

    return LocalBlobStore(root=Path(blob_dir), url_for=url_for, secret=secret)


def job_locks() -> JobLocks:
    """Locks held across the many transactions of one long job (PostgreSQL advisory locks)."""
    from chalicelib.adapters.job_locks import AdvisoryJobLocks

    return AdvisoryJobLocks()


def reset_blob_store() -> None:
    """Forget built stores (tests switch between S3 and local stores)."""
    _s3_store.cache_clear()
    _local_store.cache_clear()
    _local_export_store.cache_clear()


def migrate_database() -> list[str]:
    """Apply pending migrations to the configured database; returns the ones applied."""
    from chalicelib.db.migrate import migrate  # maintenance only

    return migrate(database_url())


def vision_verifier() -> PairVerifier | None:
    """Claude vision for before/after pairs when an API key is configured; None otherwise (the privacy
    function then compares pixels itself)."""
    settings = get_settings()
    if not settings.anthropic_configured:
        return None
    from chalicelib.adapters.anthropic.vision import AnthropicVisionVerifier

    api_key = anthropic_api_key()  # the environment locally, Secrets Manager in AWS
    assert api_key is not None
    return AnthropicVisionVerifier(
        api_key=api_key, model=settings.vision_model,
        base_url=settings.anthropic_base_url, timeout_s=max(settings.layer_b_timeout_s, 30.0),
        max_attempts=settings.layer_b_max_attempts,
    )


def notifiers() -> list[Notifier]:
    """The alert channels the settings turn on (the log always)."""
    from chalicelib.adapters import notifiers as channels

    return list(channels.configured(get_settings()))


def delivery_targets() -> DeliveryTargets:
    """Partner webhooks (HTTPS, addresses checked) and S3 prefixes."""
    from chalicelib.adapters.delivery_targets import DeliveryTargets as Targets

    return Targets()


def probes() -> OperationalProbes:
    """Dead-letter depths (SQS) and this process's pool, for the alert engine and worker health."""
    from chalicelib.adapters.probes import RuntimeProbes

    return RuntimeProbes()


@lru_cache(maxsize=1)
def classifier() -> Classifier:
    """Claude when an API key is configured, the deterministic offline classifier otherwise."""
    settings = get_settings()
    if settings.anthropic_configured:
        from chalicelib.adapters.anthropic.classifier import AnthropicClassifier

        api_key = anthropic_api_key()
        assert api_key is not None
        return AnthropicClassifier(
            api_key=api_key,
            model=settings.layer_b_model,
            base_url=settings.anthropic_base_url,
            timeout_s=settings.layer_b_timeout_s,
            max_attempts=settings.layer_b_max_attempts,
        )
    from chalicelib.adapters.offline_classifier import OfflineClassifier

    return OfflineClassifier()


_sender: MessageSender | None = None


def sender() -> MessageSender:
    """SQS in AWS; in local mode the local runner installs its in-process dispatcher here."""
    global _sender  # noqa: PLW0603 - one sender per process
    if _sender is None:
        from chalicelib.adapters.sqs_sender import SqsSender

        settings = get_settings()
        _sender = SqsSender(prefix=settings.queue_prefix, region=settings.aws_region)
    return _sender


def install_sender(new_sender: MessageSender | None) -> None:
    global _sender  # noqa: PLW0603
    _sender = new_sender


@lru_cache(maxsize=1)
def field_cipher() -> FieldCipher:
    """Envelope encryption of personal columns: AWS KMS when PII_KMS_KEY_ARN is set (with the
    blind-index secret from Secrets Manager), the local key file otherwise."""
    from chalicelib.adapters.field_crypto import FieldCipher, KmsKeySource, LocalKeyFile

    settings = get_settings()
    if settings.pii_kms_key_arn:
        keys: KmsKeySource | LocalKeyFile = KmsKeySource(
            settings.pii_kms_key_arn, region=settings.aws_region, index_secret=pii_index_secret)
    else:
        keys = LocalKeyFile(settings.local_key_file)
    return FieldCipher(keys)


def reset() -> None:
    """Forget built adapters (tests change settings between cases)."""
    classifier.cache_clear()
    field_cipher.cache_clear()
    install_sender(None)


def process_sqs_batch(event: dict[str, Any], handle: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Powertools' batch processor over an SQS event (loaded on the first batch, not at import)."""
    from chalicelib.adapters.sqs_batch import process_sqs_batch as process

    return process(event, handle)


def request_acquire_timeout(seconds: float) -> AbstractContextManager[None]:
    """Within this block (one API request) a unit of work waits at most `seconds` for a connection."""
    return pool.acquire_timeout(seconds)


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (the API answers 503 UNAVAILABLE)."""
    return pool.is_unavailable(exc)


def export_store_kind() -> str:
    """s3 or local (EXPORT_STORE; auto: local in local mode, else s3)."""
    settings = get_settings()
    if settings.export_store == "auto":
        return "local" if settings.dispatch_mode == "local" else "s3"
    return settings.export_store


def export_store() -> ExportStore:
    """Where large exports and export jobs are written: S3 in AWS, a directory in local mode (see
    EXPORT_STORE); locally a job's link is the API's own admin-authenticated file route."""
    from chalicelib.adapters.export_store import LocalExportStore, S3ExportStore

    settings = get_settings()
    if export_store_kind() == "s3":
        return S3ExportStore(settings.export_bucket, region=settings.aws_region)
    return LocalExportStore(settings.export_dir, base_url=settings.public_base_url.rstrip("/"))

