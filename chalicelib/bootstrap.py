"""Composition: which real adapters this process uses, built lazily on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.adapters.outbox import MessageSender
from chalicelib.config import anthropic_api_key, get_settings
from chalicelib.domain.layer_b import Classifier

if TYPE_CHECKING:
    from chalicelib.adapters.field_crypto import FieldCipher


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


@lru_cache(maxsize=1)
def field_cipher() -> FieldCipher:
    """Envelope encryption of personal columns: AWS KMS when PII_KMS_KEY_ARN is set (with the
    blind-index secret from Secrets Manager), the local key file otherwise."""
    from chalicelib.adapters.field_crypto import FieldCipher, KmsKeySource, LocalKeyFile
    from chalicelib.config import pii_index_secret

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
