"""Where evidence photos live: S3 in AWS, a directory locally, behind one interface.

Uploads never pass through the API in AWS: the client PUTs to a presigned S3 URL whose signature
covers the content type and the exact length. Locally the "presigned" URL points at the API's own
upload route and carries a short-lived HMAC token with the same conditions.

``boto3`` is imported lazily, on the first S3 call.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.domain.blobs import Action, BlobNotFound, DownloadLink, UploadTicket

# Keys are "<prefix>/<name>": no absolute paths, no "..", nothing a file system could misread.
_KEY = re.compile(r"^[a-z]+/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


def _expiry(expires_s: int, now: float | None = None) -> tuple[int, datetime]:
    epoch = int(now if now is not None else time.time()) + expires_s
    return epoch, datetime.fromtimestamp(epoch, UTC)


# --- S3 -----------------------------------------------------------------------------------------


class S3BlobStore:
    """Objects in one bucket. Presigned PUTs sign content-type and content-length (SigV4)."""

    def __init__(self, bucket: str, *, region: str, client: Any = None) -> None:
        self.bucket = bucket
        self._region = region
        self._client = client

    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # loaded only on the paths that touch S3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", region_name=self._region,
                config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
            )
        return self._client

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            answer = self._s3().get_object(Bucket=self.bucket, Key=check_key(key))
        except Exception as exc:
            if _is_missing(exc):
                raise BlobNotFound(key) from exc
            raise
        return bytes(answer["Body"].read())

    def delete(self, key: str) -> None:
        self._s3().delete_object(Bucket=self.bucket, Key=check_key(key))

    def exists(self, key: str) -> bool:
        try:
            self._s3().head_object(Bucket=self.bucket, Key=check_key(key))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def presign_upload(self, key: str, *, content_type: str, size_bytes: int, expires_s: int) -> UploadTicket:
        _, expires_at = _expiry(expires_s)
        url = self._s3().generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": check_key(key), "ContentType": content_type,
                    "ContentLength": size_bytes},
            ExpiresIn=expires_s,
        )
        return UploadTicket(url=url, method="PUT",
                            headers={"Content-Type": content_type, "Content-Length": str(size_bytes)},
                            expires_at=expires_at)

    def presign_download(self, key: str, *, expires_s: int) -> DownloadLink:
        _, expires_at = _expiry(expires_s)
        url = self._s3().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": check_key(key)}, ExpiresIn=expires_s
        )
        return DownloadLink(url=url, expires_at=expires_at)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


# --- a directory ----------------------------------------------------------------------------------


@dataclass
class LocalBlobStore:
    """Objects as files under ``root``; links point at API routes and carry an HMAC token.

    ``url_for(key, action)`` names the route that serves a key (the store knows nothing of evidence).
    """

    root: Path
    url_for: Callable[[str, Action], str]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def presign_upload(self, key: str, *, content_type: str, size_bytes: int, expires_s: int) -> UploadTicket:
        epoch, expires_at = _expiry(expires_s)
        token = self.sign(key, "upload", epoch, content_type=content_type, size_bytes=size_bytes)
        return UploadTicket(url=f"{self.url_for(key, 'upload')}?token={token}", method="PUT",
                            headers={"Content-Type": content_type, "Content-Length": str(size_bytes)},
                            expires_at=expires_at)

    def presign_download(self, key: str, *, expires_s: int) -> DownloadLink:
        epoch, expires_at = _expiry(expires_s)
        token = self.sign(key, "download", epoch)
        return DownloadLink(url=f"{self.url_for(key, 'download')}?token={token}", expires_at=expires_at)

    # tokens

    def sign(self, key: str, action: Action, expires_epoch: int, *, content_type: str = "",
             size_bytes: int = 0) -> str:
        message = f"{action}\n{check_key(key)}\n{content_type}\n{size_bytes}\n{expires_epoch}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        return f"{expires_epoch}.{digest}"

    def verify(self, token: str, key: str, action: Action, *, content_type: str = "", size_bytes: int = 0,
               now: float | None = None) -> bool:
        """True when the token was issued by this store for exactly this key, action and conditions
        and has not expired."""
        expires, _, _digest = token.partition(".")
        if not expires.isdigit():
            return False
        expected = self.sign(key, action, int(expires), content_type=content_type, size_bytes=size_bytes)
        if not hmac.compare_digest(expected.encode(), token.encode()):
            return False
        return int(expires) >= int(now if now is not None else time.time())
