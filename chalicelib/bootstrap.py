"""The composition root: the only place that picks adapters, built lazily on first use.

The API (`app.py`), every worker and schedule (`entrypoints/`), the privacy function
(`functions/privacy/`) and the local runner (`local/`) ask here for a unit of work and for the
outside systems a use case needs; nothing connects or loads a heavy client at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from chalicelib.adapters.postgres_uow import PostgresUnitOfWork
from chalicelib.config import anthropic_api_key, get_settings
from chalicelib.domain.layer_b import Classifier
from chalicelib.services import delivery
from chalicelib.services.ports import Notifier, OperationalProbes
from chalicelib.services.unit_of_work import MessageSender, UnitOfWork


def unit_of_work() -> UnitOfWork:
    """A fresh unit of work on the PostgreSQL pool; what it enqueues is relayed after commit."""
    return PostgresUnitOfWork(relay=relay_after_commit)


def relay_after_commit(outbox_ids: Sequence[int]) -> None:
    """Push just-committed outbox messages on at once (SQS mode only; the sweeper is the safety net)."""
    delivery.relay_after_commit(PostgresUnitOfWork(), sender, outbox_ids,
                                dispatch_mode=get_settings().dispatch_mode)


def notifiers() -> list[Notifier]:
    """The alert channels the settings turn on (the log always)."""
    from chalicelib.adapters import notifiers as channels

    return list(channels.configured(get_settings()))


def probes() -> OperationalProbes:
    """Dead-letter depths (SQS) and this process's pool, for the alert engine and worker health."""
    from chalicelib.adapters.probes import RuntimeProbes

    return RuntimeProbes()


@lru_cache(maxsize=1)
def classifier() -> Classifier:
    """Claude when an API key is configured, the deterministic offline classifier otherwise."""
    settings = get_settings()
    if settings.anthropic_configured:
        from chalicelib.adapters.anthropic_classifier import AnthropicClassifier

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


def reset() -> None:
    """Forget built adapters (tests change settings between cases)."""
    classifier.cache_clear()
    install_sender(None)
