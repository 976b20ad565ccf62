"""Through RDS Proxy the functions hold no password: an IAM auth token is made for every new connection,
and connections do nothing that would pin a proxy session (no SET, no prepared statements)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict

from chalicelib import bootstrap
from chalicelib.config import database_url, reset_settings
from chalicelib.db import pool


def _no_secret(name: str, *, transform: str | None) -> object:
    raise AssertionError(f"IAM auth must not read the database secret ({name})")


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_HOST", "peerguard-prod.proxy-abc.eu-west-1.rds.amazonaws.com")
    monkeypatch.setenv("DATABASE_PORT", "5432")
    monkeypatch.setenv("DATABASE_IAM_AUTH", "true")
    monkeypatch.setenv("DATABASE_USER", "peerguard_admin")
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:db")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setattr("chalicelib.config._secret", _no_secret)
    reset_settings()
    with mock_aws():
        yield
    reset_settings()
    bootstrap.reset()


def test_the_password_is_an_iam_token_to_connect_as_the_user_at_the_proxy(proxy_env: None) -> None:
    params = conninfo_to_dict(database_url())
    assert params["host"] == "peerguard-prod.proxy-abc.eu-west-1.rds.amazonaws.com"
    assert (params["user"], params["sslmode"], params["dbname"]) == ("peerguard_admin", "require", "peerguard")
    token = str(params["password"])
    assert token.startswith("peerguard-prod.proxy-abc.eu-west-1.rds.amazonaws.com:5432/?")
    query = parse_qs(urlsplit("https://" + token).query)
    assert query["Action"] == ["connect"] and query["DBUser"] == ["peerguard_admin"]
    assert "/eu-west-1/rds-db/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Signature"][0]


def test_iam_auth_without_a_user_is_refused_rather_than_guessed(
    proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_USER")
    reset_settings()
    with pytest.raises(RuntimeError, match="DATABASE_USER"):
        database_url()


def test_the_pool_makes_a_token_per_connection_and_never_pins_a_session(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the test server (which does not check passwords), as the proxy would be connected to."""
    target = conninfo_to_dict(database_url)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_HOST", str(target.get("host", "localhost")))
    monkeypatch.setenv("DATABASE_PORT", str(target.get("port", 5432)))
    monkeypatch.setenv("DATABASE_NAME", str(target["dbname"]))
    monkeypatch.setenv("DATABASE_USER", str(target.get("user") or "postgres"))
    monkeypatch.setenv("DATABASE_IAM_AUTH", "true")
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "0")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "2")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "1234")
    tokens: list[tuple[str, int, str, str]] = []

    def token(host: str, port: int, user: str, region: str) -> str:
        tokens.append((host, port, user, region))
        return f"token-{len(tokens)}"

    monkeypatch.setattr("chalicelib.config.iam_auth_token", token)
    reset_settings()
    pool.close_pool()
    try:
        made_before = len(tokens)
        with pool.connection() as first, pool.connection() as second:
            assert first is not second
            for conn in (first, second):
                assert conn.prepare_threshold is None  # no server-side prepared statements
                timeout = conn.execute("SHOW statement_timeout").fetchone()
                assert timeout is not None and timeout["statement_timeout"] != "1234ms"  # no SET issued
        # Each of the two connections asked for its own token (plus the check when the pool was built)
        assert len(tokens) - made_before >= 2
        assert {t[2] for t in tokens} == {str(target.get("user") or "postgres")}
    finally:
        pool.close_pool()
        reset_settings()
