"""Export objects: S3 in AWS (a multipart upload fed chunk by chunk, so memory stays at one part
whatever the export's size), a directory locally."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.domain.blobs import DownloadLink

PART_BYTES = 8 * 1024 * 1024  # S3 parts are at least 5 MiB except the last


class S3ExportStore:
    def __init__(self, bucket: str, *, region: str, client: Any = None) -> None:
        self.bucket = bucket
        self._region = region
        self._client = client

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", region_name=self._region,
                                        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
        return self._client

    def write(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> int:
        s3 = self._s3()
        upload = s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type,
                                            ServerSideEncryption="AES256")
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        buffer = bytearray()
        total = 0

        def send() -> None:
            number = len(parts) + 1
            answer = s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                    Body=bytes(buffer))
            parts.append({"ETag": answer["ETag"], "PartNumber": number})
            buffer.clear()

        try:
            for chunk in chunks:
                buffer.extend(chunk)
                total += len(chunk)
                if len(buffer) >= PART_BYTES:
                    send()
            if buffer or not parts:
                send()
            s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
        except BaseException:
            s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return total

    def link(self, key: str, *, filename: str, expires_s: int) -> DownloadLink:
        url = self._s3().generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'},
            ExpiresIn=expires_s,
        )
        return DownloadLink(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=expires_s))


class LocalExportStore:
    """A directory; the link is a file URL (local mode streams exports, so this serves tests and tries)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        path = (self.directory / key).resolve()
        if self.directory.resolve() not in path.parents:
            raise ValueError("export key leaves the export directory")
        return path

    def write(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        total = 0
        with path.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                total += len(chunk)
        return total

    def link(self, key: str, *, filename: str, expires_s: int) -> DownloadLink:
        return DownloadLink(url=self._path(key).as_uri(),
                            expires_at=datetime.now(UTC) + timedelta(seconds=expires_s))
