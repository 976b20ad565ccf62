"""The privacy stage Lambda: SQS records from the privacy queue, each either an S3 notification of
a new object under ``quarantine/`` (AWS) or one of our outbox messages (an operator's retry, a local
upload, a pair ready for verification).

Each photo is cleaned by ``processing.process_photo`` (EXIF orientation applied, all metadata
dropped, re-encoded, faces and plates blurred when PRIVACY_BLUR_ENABLED) and recorded by
``chalicelib.services.privacy_stage`` (pairs by ``pair_verification``); failed records are reported
to SQS as partial batch failures.
This package is the only one that imports the imaging libraries (OpenCV, Pillow, NumPy).
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote_plus
from uuid import UUID

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.hyperlocal import (
    CleanPhoto,
    PairAssessment,
    PairPhoto,
    PairTask,
    PairVerification,
    PairVerifier,
    PhotoRefused,
)
from chalicelib.observability import bind, logger, metrics
from chalicelib.services import evidence_upload, pair_verification, privacy_stage

# The vision API scales longer sides down to this anyway; sending more only costs upload time.
MODEL_LONG_SIDE = 1568


# --- messages ----------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class S3Object(_Lenient):
    key: str
    size: int | None = None


class S3Bucket(_Lenient):
    name: str


class S3Entity(_Lenient):
    bucket: S3Bucket
    object: S3Object


class S3EventRecord(_Lenient):
    eventSource: Literal["aws:s3"]
    eventName: str
    s3: S3Entity


class S3Notification(_Lenient):
    Records: list[S3EventRecord]


class OutboxTask(_Lenient):
    task: Literal["process_photo", "verify_pair"]
    evidence_id: UUID | None = None
    pair_id: UUID | None = None
    message_key: str | None = None


def parse(body: str) -> list[tuple[Literal["process_photo", "verify_pair"], UUID]] | None:
    """The work a record asks for; None for S3's test event. Malformed bodies raise (the record fails).

    Keys in S3 notifications are URL-encoded; keys outside quarantine/ are not ours and are skipped.
    """
    data: Any = json.loads(body)
    if isinstance(data, dict) and data.get("Event") == "s3:TestEvent":
        return None
    if isinstance(data, dict) and "Records" in data:
        work: list[tuple[Literal["process_photo", "verify_pair"], UUID]] = []
        for record in S3Notification.model_validate(data).Records:
            if not record.eventName.startswith("ObjectCreated:"):
                continue
            key = unquote_plus(record.s3.object.key)
            evidence_id = evidence_upload.evidence_id_from_key(key)
            if evidence_id is None:
                logger.warning("S3 object outside quarantine ignored", extra={"key": key[:200]})
                continue
            work.append(("process_photo", evidence_id))
        return work
    task = OutboxTask.model_validate(data)
    target = task.evidence_id if task.task == "process_photo" else task.pair_id
    if target is None:
        raise ValueError(f"{task.task} message without its id")
    return [(task.task, target)]


# --- the imaging side ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _configure_imaging() -> None:
    """Hand the imaging code its settings once per process (it reads none itself)."""
    from functions.privacy import faces

    faces.use_model_file(get_settings().privacy_face_model)


def clean_photo(data: bytes, *, blur: bool) -> CleanPhoto:
    """``process_photo`` in the terms of the evidence service."""
    from functions.privacy.processing import process_photo
    from functions.privacy.rejection import PhotoRejected

    _configure_imaging()
    try:
        processed = process_photo(data, blur=blur, max_bytes=get_settings().evidence_max_bytes)
    except PhotoRejected as rejected:
        raise PhotoRefused(rejected.code, rejected.message) from rejected
    return CleanPhoto(
        data=processed.data, width=processed.width, height=processed.height, content_type=processed.content_type,
        removed_metadata=tuple(processed.removed_metadata),
        # The EXIF orientation baked into the pixels: 1 (or none) means they were upright already.
        orientation_applied=int(processed.orientation_applied) not in (0, 1),
        faces_blurred=processed.faces_blurred, plates_blurred=processed.plates_blurred,
        coarse_location=processed.coarse_location, sha256=processed.sha256,
        recovered_truncated=processed.recovered_truncated,
    )


class PixelVerifier:
    """The offline stand-in for Claude vision: a local pixel comparison of the two photos."""

    kind: Literal["anthropic", "pixel"] = "pixel"

    def verify(self, before: PairPhoto, after: PairPhoto, task: PairTask) -> PairVerification:
        from functions.privacy.processing import compare_before_after

        found = compare_before_after(before.data, after.data)
        return PairVerification(
            assessment=PairAssessment(float(found.improvement), float(found.confidence), found.reasoning),
            verifier="pixel",
        )


def model_copy(photo: PairPhoto, long_side: int = MODEL_LONG_SIDE) -> PairPhoto:
    """The photo as the vision model needs it: at most `long_side` px, a JPEG under the API's size limit."""
    from PIL import Image

    from chalicelib.adapters.anthropic.vision import MAX_IMAGE_BYTES

    with Image.open(io.BytesIO(photo.data)) as image:
        if max(image.size) <= long_side and len(photo.data) <= MAX_IMAGE_BYTES:
            return photo
        copy = image.convert("RGB")
    copy.thumbnail((long_side, long_side))
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=85)
    return PairPhoto(out.getvalue(), "image/jpeg")


class ModelSizedVerifier:
    """Hands a verifier photos scaled for the vision API."""

    def __init__(self, inner: PairVerifier) -> None:
        self.inner = inner
        self.kind = inner.kind

    def verify(self, before: PairPhoto, after: PairPhoto, task: PairTask) -> PairVerification:
        return self.inner.verify(model_copy(before), model_copy(after), task)


def verifier() -> PairVerifier:
    """Claude vision when an API key is configured, the pixel comparison otherwise."""
    vision = bootstrap.vision_verifier()
    return PixelVerifier() if vision is None else ModelSizedVerifier(vision)


# --- the Lambda ------------------------------------------------------------------------------------


def _correlation_id(record: SQSRecord) -> str:
    attribute = record.raw_event.get("messageAttributes", {}).get("correlation_id") or {}
    value = attribute.get("stringValue")
    return str(value) if value and value != "-" else record.message_id


def handle_record(record: SQSRecord) -> None:
    """One SQS record; raising marks it failed (SQS delivers it again, then to the DLQ)."""
    with bind(correlation_id=_correlation_id(record), message_id=record.message_id):
        work = parse(record.body)
        if work is None:
            logger.info("S3 test event acknowledged")
            return
        for task, target in work:
            if task == "process_photo":
                privacy_stage.process_evidence(bootstrap.unit_of_work(), bootstrap.blob_store(), target, clean_photo)
            else:
                pair_verification.verify_pair(bootstrap.unit_of_work(), bootstrap.blob_store(), target, verifier())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (``functions/privacy/handler.handler``): a batch with partial failures."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    result: dict[str, Any] = dict(process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    ))
    failures = len(result.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="WorkerRecordFailures", unit="Count", value=failures)
    metrics.flush_metrics()
    return result
