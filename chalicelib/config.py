"""Typed settings, read from the environment once and lazily (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.domain.alert_rules import SLOW_QUERY_WARN_MS
from chalicelib.domain.consensus import DAILY_QUOTA, EVALUATION_EXPIRY


class Settings(BaseSettings):
    """Every knob of the service. Environment variables carry the names in upper case."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    stage: Literal["local", "test", "dev", "prod"] = "local"
    database_url: str = ""
    # In AWS the database comes as parts plus the RDS-managed Secrets Manager secret (username, password).
    database_host: str | None = None
    database_port: int = Field(default=5432, ge=1, le=65535)
    database_name: str = "peerguard"
    database_secret_arn: str | None = None
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=4, ge=1)
    db_connect_timeout_s: float = Field(default=10.0, gt=0)
    # The API waits this long for a connection, then answers 503 UNAVAILABLE (workers wait the longer one).
    db_api_acquire_timeout_s: float = Field(default=1.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)

    # How outbox messages travel: to SQS in AWS, straight to the handlers in local mode.
    dispatch_mode: Literal["sqs", "local"] = "sqs"
    queue_prefix: str = "peerguard"
    # The outbox as the local queue (and the relay to SQS in AWS): a claimed message is leased this long
    # (the visibility timeout), a failed one retries after base * 2**attempts seconds, and the
    # max-attempts-th failure parks it as dead (maxReceiveCount, then the dead-letter queue).
    outbox_lease_s: float = Field(default=60.0, gt=0)
    outbox_retry_base_s: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=5, ge=1, le=100)
    aws_region: str = "us-east-1"

    # Layer B
    anthropic_api_key: SecretStr | None = None
    anthropic_secret_id: str | None = None  # in AWS the key lives in Secrets Manager, never in config
    pii_kms_key_arn: str | None = None
    anthropic_base_url: str | None = None
    layer_b_model: str = "claude-haiku-4-5"
    layer_b_timeout_s: float = Field(default=20.0, gt=0)
    layer_b_max_attempts: int = Field(default=3, ge=1, le=10)

    # Trust: an agent becomes "verified" after this age and this many approvals.
    trust_verified_min_age_days: int = Field(default=8, ge=0)
    trust_verified_min_approvals: int = Field(default=3, ge=0)

    # Peer validation: how long validators have to answer before the review falls back to Layer B.
    evaluation_expiry_s: int = Field(default=int(EVALUATION_EXPIRY.total_seconds()), ge=5)
    # Peer validation: evaluations a validator may be asked for per UTC day.
    validator_daily_quota: int = Field(default=DAILY_QUOTA, ge=1)
    # Shadow-mode evaluations count against their own daily quota, never against the live one.
    validator_shadow_daily_quota: int = Field(default=DAILY_QUOTA, ge=0)

    # API limits (per key per minute) and request size.
    rate_limit_agent_per_min: int = Field(default=60, ge=1)
    rate_limit_human_per_min: int = Field(default=120, ge=1)
    rate_limit_admin_per_min: int = Field(default=300, ge=1)
    rate_limit_register_per_min: int = Field(default=30, ge=1)  # per source address, whatever the key
    # Registration limits every registration counts against, whatever key it carries (docs/economy.md).
    register_per_address_per_day: int = Field(default=100, ge=1)
    register_per_owner_per_min: int = Field(default=10, ge=1)
    register_per_owner_per_day: int = Field(default=20, ge=1)
    starter_grant_window_days: int = Field(default=30, ge=1)
    max_request_bytes: int = Field(default=262_144, ge=1024)

    # Blob store for evidence (S3 in AWS, a directory locally).
    evidence_bucket: str = "peerguard-evidence"
    blob_dir: str = ".local/blobs"
    local_key_file: str = ".local/data-key"
    public_base_url: str = "http://127.0.0.1:8000"
    # Evidence: "auto" is the directory store in local dispatch mode and S3 otherwise.
    evidence_store: Literal["auto", "s3", "local"] = "auto"
    evidence_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, le=15 * 1024 * 1024)
    evidence_upload_ttl_s: int = Field(default=900, ge=60, le=3600)
    evidence_download_ttl_s: int = Field(default=900, ge=60, le=3600)
    evidence_uploads_per_hour: int = Field(default=10, ge=1)
    attestations_per_hour: int = Field(default=20, ge=1)
    # A photo whose processing started longer ago than this may be claimed again (crashed worker).
    # Shorter than the privacy queue's visibility timeout (720 s): a redelivery after a crash can reclaim.
    privacy_lease_s: int = Field(default=300, ge=30)
    # Signs local upload/download links; a random per-process secret when unset.
    upload_token_secret: SecretStr | None = None
    vision_model: str = "claude-haiku-4-5"

    # Alert notifiers: SNS in AWS, a Slack-compatible webhook, e-mail over SMTP; always the log.
    alert_sns_topic_arn: str | None = None
    alert_webhook_url: SecretStr | None = None  # the URL is the credential of a Slack webhook
    alert_webhook_timeout_s: float = Field(default=5.0, gt=0, le=30)
    alert_notify_attempts: int = Field(default=3, ge=1, le=10)
    alert_email_to: str | None = None
    alert_email_from: str = "peerguard-alerts@localhost"
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(default=25, ge=1, le=65535)
    # Where operators open an alert (links in notifications); the local dashboard page by default.
    alert_console_url: str = "http://127.0.0.1:8000/admin"

    # The slow-query log: statements at least this slow are recorded (alerts: 500 ms warn, 1 s critical).
    slow_query_ms: float = Field(default=float(SLOW_QUERY_WARN_MS), ge=0)

    @property
    def anthropic_configured(self) -> bool:
        has_key = self.anthropic_api_key is not None and bool(self.anthropic_api_key.get_secret_value())
        return has_key or bool(self.anthropic_secret_id)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the local runner change the environment)."""
    get_settings.cache_clear()


def database_url() -> str:
    """The connection string: DATABASE_URL when set, else built from the parts and the RDS secret."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    if settings.database_host and settings.database_secret_arn:
        from psycopg.conninfo import make_conninfo

        secret = _secret(settings.database_secret_arn, transform="json")
        assert isinstance(secret, dict)
        return make_conninfo(
            host=settings.database_host, port=settings.database_port, dbname=settings.database_name,
            user=secret["username"], password=secret["password"], sslmode="require",
        )
    return ""


def anthropic_api_key() -> str | None:
    """The Anthropic key: from the environment locally, from Secrets Manager in AWS (cached 5 min)."""
    settings = get_settings()
    if settings.anthropic_api_key is not None and settings.anthropic_api_key.get_secret_value():
        return settings.anthropic_api_key.get_secret_value()
    if settings.anthropic_secret_id:
        value = _secret(settings.anthropic_secret_id, transform=None)
        return str(value)
    return None


def _secret(name: str, *, transform: str | None) -> object:
    # Powertools caches secrets in memory; boto3 is loaded only on this path.
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_secret(name, transform=transform, max_age=300)  # type: ignore[call-overload,arg-type]
