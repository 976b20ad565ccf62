"""Where partner deliveries go: HTTPS webhooks (connected to the address that was checked, so a DNS
answer cannot change between the check and the send) and S3 prefixes."""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any, Protocol

from chalicelib.domain.deliveries import DeliveryFailed, Sent, Target, forbidden_addresses
from chalicelib.domain.errors import ValidationFailed


class Resolver(Protocol):
    def __call__(self, host: str, port: int) -> list[str]: ...


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def vetted_address(target: Target, *, strict: bool, resolver: Resolver = resolve) -> str:
    """The address to connect to. Strictly (outside the local stage) every address the host resolves
    to must be public: one private answer is enough to refuse (SSRF)."""
    try:
        addresses = resolver(target.host, target.port)
    except OSError as exc:
        raise ValidationFailed(f"the target host does not resolve: {exc}",
                               details=[{"field": "target", "message": "does not resolve"}]) from exc
    if not addresses:
        raise ValidationFailed("the target host does not resolve",
                               details=[{"field": "target", "message": "does not resolve"}])
    if strict:
        bad = forbidden_addresses(addresses)
        if bad:
            raise ValidationFailed("the target resolves to a private, loopback or link-local address",
                                   details=[{"field": "target", "message": "not a public address",
                                             "addresses": bad}])
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI and certificate checks for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post_webhook(target: Target, body: bytes, headers: dict[str, str], *, timeout_s: float, strict: bool,
                 resolver: Resolver = resolve) -> Sent:
    """POST the payload; any answer but 2xx, and any network error or timeout, is a failure."""
    try:
        address = vetted_address(target, strict=strict, resolver=resolver)
    except ValidationFailed as exc:
        raise DeliveryFailed(f"target refused: {exc.message}") from exc
    from urllib.parse import urlsplit

    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = cls(target.host, address, target.port, timeout_s)
    try:
        connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        response.read(65_536)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"the partner answered {response.status}", response.status)
    return Sent(response.status)


def put_s3(target: Target, key: str, body: bytes, *, content_type: str, metadata: dict[str, str],
           client: Any = None) -> Sent:
    """Write the payload as one object under the target's prefix."""
    if client is None:
        import boto3

        client = boto3.client("s3")
    full_key = f"{target.prefix}/{key}" if target.prefix else key
    try:
        client.put_object(Bucket=target.bucket, Key=full_key, Body=body, ContentType=content_type,
                          Metadata=metadata)
    except Exception as exc:  # botocore's errors: the partner's bucket is an outside system
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    return Sent(None, f"s3://{target.bucket}/{full_key}")


class DeliveryTargets:
    """The outside systems deliveries reach (the `DeliveryTargets` port of services/ports.py)."""

    def __init__(self, *, resolver: Resolver = resolve, s3_client: Any = None) -> None:
        self._resolver = resolver
        self._s3_client = s3_client

    def vet(self, target: Target, *, strict: bool) -> None:
        vetted_address(target, strict=strict, resolver=self._resolver)

    def post_webhook(self, target: Target, body: bytes, headers: dict[str, str], *, timeout_s: float,
                     strict: bool) -> Sent:
        return post_webhook(target, body, headers, timeout_s=timeout_s, strict=strict, resolver=self._resolver)

    def put_s3(self, target: Target, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> Sent:
        return put_s3(target, key, body, content_type=content_type, metadata=metadata, client=self._s3_client)
