"""Typed settings, read from the environment once and lazily (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service. Environment variables carry the names in upper case."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    stage: Literal["local", "test", "dev", "prod"] = "local"
    database_url: str = ""
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=4, ge=1)
    db_connect_timeout_s: float = Field(default=10.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)

    # How outbox messages travel: to SQS in AWS, straight to the handlers in local mode.
    dispatch_mode: Literal["sqs", "local"] = "sqs"
    queue_prefix: str = "peerguard"
    aws_region: str = "us-east-1"

    # Layer B
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    layer_b_model: str = "claude-haiku-4-5"
    layer_b_timeout_s: float = Field(default=20.0, gt=0)
    layer_b_max_attempts: int = Field(default=3, ge=1, le=10)

    # Trust: an agent becomes "verified" after this age and this many approvals.
    trust_verified_min_age_days: int = Field(default=8, ge=0)
    trust_verified_min_approvals: int = Field(default=3, ge=0)

    # Peer validation: evaluations a validator may be asked for per UTC day.
    validator_daily_quota: int = Field(default=10, ge=1)

    # API limits (per key per minute) and request size.
    rate_limit_agent_per_min: int = Field(default=60, ge=1)
    rate_limit_human_per_min: int = Field(default=120, ge=1)
    rate_limit_admin_per_min: int = Field(default=300, ge=1)
    rate_limit_register_per_min: int = Field(default=30, ge=1)
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
    privacy_lease_s: int = Field(default=900, ge=30)
    # Signs local upload/download links; a random per-process secret when unset.
    upload_token_secret: SecretStr | None = None
    vision_model: str = "claude-haiku-4-5"

    # Alert notifiers
    alert_sns_topic_arn: str | None = None
    alert_webhook_url: str | None = None

    @property
    def anthropic_configured(self) -> bool:
        return self.anthropic_api_key is not None and bool(self.anthropic_api_key.get_secret_value())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the local runner change the environment)."""
    get_settings.cache_clear()
