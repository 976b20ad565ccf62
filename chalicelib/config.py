"""Typed settings, read from the environment once and lazily (never at import time). This module is
the only one of the service that reads the environment (tests/unit/test_one_home.py checks it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chalicelib.domain.alert_rules import SLOW_QUERY_WARN_MS
from chalicelib.domain.consensus import DAILY_QUOTA, EVALUATION_EXPIRY
from chalicelib.domain.export_jobs import JOB_THRESHOLD_BYTES


class Settings(BaseModel):
    """Every knob of the service. Environment variables carry the names in upper case.

    A plain model read by `from_environment` (every field is a scalar, so pydantic's own parsing of the
    strings is all it takes): pydantic-settings and its sources cost a tenth of every cold start.
    """

    model_config = ConfigDict(extra="ignore")

    stage: Literal["local", "test", "dev", "prod"] = "local"
    database_url: str = ""
    # In AWS the database comes as parts plus the RDS-managed Secrets Manager secret (username, password).
    database_host: str | None = None
    database_port: int = Field(default=5432, ge=1, le=65535)
    database_name: str = "peerguard"
    database_secret_arn: str | None = None
    # Through RDS Proxy (infra/database.yaml, EnableProxy): no password anywhere, an IAM auth token made for
    # each new connection instead (valid 15 minutes, only checked at connect), as DATABASE_USER. The proxy
    # runs the session settings itself (its InitQuery), so connections issue no SET and prepare no
    # statements: either would pin the client to one database connection and defeat the proxy's pooling.
    database_iam_auth: bool = False
    database_user: str | None = None
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=4, ge=1)
    db_connect_timeout_s: float = Field(default=10.0, gt=0)
    # The API waits this long for a connection, then answers 503 UNAVAILABLE (workers wait the longer one).
    db_api_acquire_timeout_s: float = Field(default=1.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)

    # How outbox messages travel: to SQS in AWS, straight to the handlers in local mode.
    dispatch_mode: Literal["sqs", "local"] = "sqs"
    # Locally, concurrent consumers per queue (what Lambda's concurrency per SQS queue is in AWS).
    local_consumers_per_queue: int = Field(default=4, ge=1, le=64)
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
    pii_kms_key_arn: str | None = None  # envelope encryption of personal columns (local key file when unset)
    pii_index_secret_arn: str | None = None  # the blind-index secret in AWS (Secrets Manager)
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
    # The face model file; unset: privacy_models/ on sys.path (the layer), then .local/models/.
    privacy_face_model: str | None = None
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

    # Set by the Lambda runtime: tracing (X-Ray) is on only there.
    aws_lambda_function_name: str | None = None

    @property
    def in_lambda(self) -> bool:
        return bool(self.aws_lambda_function_name)
    # Partner deliveries: per-attempt timeout, backoff base between the 3 attempts, worker lease.
    delivery_timeout_s: float = Field(default=10.0, gt=0, le=60)
    delivery_retry_base_s: float = Field(default=60.0, ge=0)
    delivery_lease_s: int = Field(default=300, ge=30)

    # Exports: answered inline up to this many bytes (Lambda caps a response at 6 MB), larger ones go
    # to the export bucket behind a link; the local server streams every export instead.
    export_inline_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=5 * 1024 * 1024)
    export_bucket: str = "peerguard-exports"
    export_store: Literal["auto", "s3", "local"] = "auto"
    export_dir: str = ".local/exports"
    export_link_ttl_s: int = Field(default=900, ge=60, le=3600)
    export_concurrency: int = Field(default=2, ge=1, le=8)  # exports at once per process
    # An export estimated larger than this becomes a job (202) in every mode, streamed or not.
    export_job_threshold_bytes: int = Field(default=JOB_THRESHOLD_BYTES, ge=1024, le=1024 * 1024 * 1024)

    @property
    def anthropic_configured(self) -> bool:
        has_key = self.anthropic_api_key is not None and bool(self.anthropic_api_key.get_secret_value())
        return has_key or bool(self.anthropic_secret_id)


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Settings from environment variables, names in any case (DATABASE_URL sets database_url)."""
    fields = Settings.model_fields
    return Settings.model_validate({key.lower(): value for key, value in environ.items() if key.lower() in fields})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return settings_from(os.environ)


def reset_settings() -> None:
    """Forget cached settings (tests and the local runner change the environment)."""
    get_settings.cache_clear()


def powertools_defaults(*, service: str, namespace: str) -> None:
    """Powertools reads its own POWERTOOLS_* variables; give local runs our service name and metric
    namespace when they are not set (the deployed template sets them)."""
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", service)
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", namespace)


def database_url() -> str:
    """The connection string: DATABASE_URL when set, else built from the parts and an IAM auth token made
    now (DATABASE_IAM_AUTH, through RDS Proxy: call it once per connection) or the RDS secret."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    if settings.database_host and settings.database_iam_auth:
        from psycopg.conninfo import make_conninfo

        if not settings.database_user:
            raise RuntimeError("DATABASE_IAM_AUTH needs DATABASE_USER (the user the proxy's secret holds)")
        token = iam_auth_token(settings.database_host, settings.database_port, settings.database_user,
                               settings.aws_region)
        return make_conninfo(
            host=settings.database_host, port=settings.database_port, dbname=settings.database_name,
            user=settings.database_user, password=token, sslmode="require",
        )
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


def iam_auth_token(host: str, port: int, user: str, region: str) -> str:
    """A signed IAM auth token for `user` at host:port (computed locally with the function's credentials: no
    call to AWS; boto3, which the Lambda runtime provides, is loaded only on this path)."""
    return str(_rds_client(region).generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region))


@lru_cache(maxsize=4)
def _rds_client(region: str) -> Any:
    import boto3

    return boto3.client("rds", region_name=region)


def pii_index_secret() -> str:
    """The blind-index secret from Secrets Manager (AWS only; cached 5 min)."""
    settings = get_settings()
    if not settings.pii_index_secret_arn:
        raise RuntimeError("PII_INDEX_SECRET_ARN is not set")
    return str(_secret(settings.pii_index_secret_arn, transform=None))


def _secret(name: str, *, transform: str | None) -> object:
    # Powertools caches secrets in memory; boto3 is loaded only on this path.
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_secret(name, transform=transform, max_age=300)  # type: ignore[call-overload,arg-type]
