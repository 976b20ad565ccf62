"""Export objects: S3 in AWS (a multipart upload fed chunk by chunk, so memory stays at one part
whatever the export's size), a directory locally."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from chalicelib.domain.blobs import DownloadLink
from chalicelib.domain.export_jobs import PART_BYTES, job_id_of_key


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

    def start_upload(self, key: str, *, content_type: str) -> str:
        upload = self._s3().create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type,
                                                    ServerSideEncryption="AES256")
        return str(upload["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        answer = self._s3().upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                        Body=data)
        return str(answer["ETag"])

    def complete_upload(self, key: str, upload_id: str, parts: Sequence[Mapping[str, Any]]) -> None:
        self._s3().complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": int(p["PartNumber"]), "ETag": str(p["ETag"])} for p in parts]})

    def abort_upload(self, key: str, upload_id: str) -> None:
        self._s3().abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self._s3().head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def read(self, key: str) -> Generator[bytes, None, None]:
        body = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"]
        yield from body.iter_chunks(PART_BYTES)


class LocalExportStore:
    """A directory; the link is a file URL (local mode streams exports, so this serves tests and tries),
    except for an export job's file: its link is the admin-authenticated route that serves it."""

    def __init__(self, directory: str, *, base_url: str = "") -> None:
        self.directory = Path(directory)
        self._base_url = base_url

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
        job_id = job_id_of_key(key)
        url = (f"{self._base_url}/v1/admin/exports/jobs/{job_id}/file" if job_id is not None and self._base_url
               else self._path(key).as_uri())
        return DownloadLink(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=expires_s))

    def _part(self, key: str, upload_id: str, number: int) -> Path:
        return self._path(f"{key}.uploads/{upload_id}/{number:05d}")

    def start_upload(self, key: str, *, content_type: str) -> str:
        upload_id = uuid4().hex
        self._part(key, upload_id, 0).parent.mkdir(parents=True, exist_ok=True)
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        path = self._part(key, upload_id, number)
        if not path.parent.is_dir():
            raise KeyError(f"no upload {upload_id}")
        scratch = path.with_suffix(".tmp")
        scratch.write_bytes(data)
        scratch.replace(path)  # a part uploaded again replaces the earlier one whole
        return f'"{number}-{len(data)}"'

    def complete_upload(self, key: str, upload_id: str, parts: Sequence[Mapping[str, Any]]) -> None:
        target = self._path(key)
        with target.open("wb") as out:
            for part in parts:
                with self._part(key, upload_id, int(part["PartNumber"])).open("rb") as f:
                    while chunk := f.read(1024 * 1024):
                        out.write(chunk)
        self.abort_upload(key, upload_id)

    def abort_upload(self, key: str, upload_id: str) -> None:
        folder = self._part(key, upload_id, 0).parent
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def read(self, key: str) -> Generator[bytes, None, None]:
        with self._path(key).open("rb") as f:
            while chunk := f.read(256 * 1024):
                yield chunk
