"""In AWS nothing secret is in the environment: the database and the Anthropic key come from
Secrets Manager, read lazily and only on the paths that need them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib import bootstrap
from chalicelib.config import anthropic_api_key, database_url, reset_settings


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    for name in ("DATABASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_HOST", "db.internal")
    monkeypatch.setenv("DATABASE_PORT", "6432")
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:db")
    monkeypatch.setenv("ANTHROPIC_SECRET_ID", "peerguard/prod/anthropic-api-key")
    looked_up: list[str] = []

    def fake_secret(name: str, *, transform: str | None) -> object:
        looked_up.append(name)
        if transform == "json":
            return {"username": "peerguard", "password": "p@ss word"}
        return "sk-ant-from-secrets-manager"

    monkeypatch.setattr("chalicelib.config._secret", fake_secret)
    reset_settings()
    bootstrap.reset()
    yield looked_up
    reset_settings()
    bootstrap.reset()


def test_the_database_url_is_built_from_the_host_and_the_rds_secret(aws_env: list[str]) -> None:
    url = database_url()
    assert "host=db.internal" in url and "port=6432" in url and "dbname=peerguard" in url
    assert "user=peerguard" in url and "sslmode=require" in url
    assert "password='p@ss word'" in url
    assert aws_env == ["arn:aws:secretsmanager:us-east-1:1:secret:db"]


def test_layer_b_uses_claude_with_the_key_from_secrets_manager(aws_env: list[str]) -> None:
    from chalicelib.adapters.anthropic.classifier import AnthropicClassifier

    assert anthropic_api_key() == "sk-ant-from-secrets-manager"
    assert isinstance(bootstrap.classifier(), AnthropicClassifier)
    assert "peerguard/prod/anthropic-api-key" in aws_env
