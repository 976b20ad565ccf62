"""SQS stages as thin Chalice handlers: parse each record, call one service, report partial failures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from chalice.app import Blueprint, SQSEvent
from pydantic import BaseModel, ConfigDict

from chalicelib import bootstrap
from chalicelib.observability import bind, logger, metrics
from chalicelib.services import consensus, export_jobs, guardrail, privacy_job, privacy_jobs, spot_checks
from chalicelib.services.partner_deliveries import run_delivery

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

bp = Blueprint(__name__)

# Queue names are fixed at packaging time; infra/ creates them (with DLQs) under the same names.
GUARDRAIL_QUEUE = "peerguard-guardrail"
CONSENSUS_QUEUE = "peerguard-consensus"
SPOT_CHECK_QUEUE = "peerguard-spot-check"
PRIVACY_REQUEST_QUEUE = "peerguard-privacy-request"
DELIVERY_QUEUE = "peerguard-delivery"
EXPORT_JOB_QUEUE = "peerguard-export-job"


class OutboxEnvelope(BaseModel):
    """Every message carries the outbox key it came from: the consumers' deduplication key."""

    model_config = ConfigDict(extra="allow")
    message_key: str | None = None


class GuardrailMessage(OutboxEnvelope):
    submission_id: UUID


class ConsensusMessage(OutboxEnvelope):
    submission_id: UUID


class SpotCheckMessage(OutboxEnvelope):
    spot_check_id: UUID


class PrivacyRequestMessage(OutboxEnvelope):
    request_id: UUID
    event: str | None = None
class DeliveryMessage(OutboxEnvelope):
    run_id: UUID


class ExportJobMessage(OutboxEnvelope):
    job_id: UUID


def message_key(record: SQSRecord, parsed: OutboxEnvelope) -> str:
    return parsed.message_key or f"sqs:{record.message_id}"


def correlation_id(record: SQSRecord) -> str:
    attribute = record.raw_event.get("messageAttributes", {}).get("correlation_id") or {}
    value = attribute.get("stringValue")
    return str(value) if value and value != "-" else record.message_id


def run_batch(event: SQSEvent, handle: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Powertools' batch processor (through bootstrap): failed records are reported, the others are
    acknowledged, even when every record failed (SQS retries just those)."""

    def traced(record: SQSRecord) -> None:
        with bind(correlation_id=correlation_id(record), message_id=record.message_id):
            handle(record)

    result = bootstrap.process_sqs_batch(event.to_dict(), traced)
    failures = len(result.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="WorkerRecordFailures", unit="Count", value=failures)
    metrics.flush_metrics()
    return result


def handle_guardrail(record: SQSRecord) -> None:
    message = GuardrailMessage.model_validate(json.loads(record.body))
    outcome = guardrail.run_guardrail(bootstrap.unit_of_work(), message.submission_id, message_key(record, message),
                            bootstrap.classifier())
    logger.info("guardrail stage", extra={"submission_id": str(message.submission_id), "outcome": outcome})


@bp.on_sqs_message(queue=GUARDRAIL_QUEUE, batch_size=10, name="guardrail_worker")
def guardrail_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_guardrail)


def handle_consensus(record: SQSRecord) -> None:
    message = ConsensusMessage.model_validate(json.loads(record.body))
    outcome = consensus.run_consensus(bootstrap.unit_of_work(), message.submission_id, message_key(record, message))
    logger.info("consensus stage", extra={"submission_id": str(message.submission_id), "outcome": outcome})


@bp.on_sqs_message(queue=CONSENSUS_QUEUE, batch_size=10, name="consensus_worker")
def consensus_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_consensus)


def handle_spot_check(record: SQSRecord) -> None:
    message = SpotCheckMessage.model_validate(json.loads(record.body))
    outcome = spot_checks.run_spot_check(bootstrap.unit_of_work(), message.spot_check_id,
                                         message_key(record, message), bootstrap.classifier())
    logger.info("spot-check stage", extra={"spot_check_id": str(message.spot_check_id), "outcome": outcome})


@bp.on_sqs_message(queue=SPOT_CHECK_QUEUE, batch_size=10, name="spot_check_worker")
def spot_check_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_spot_check)


def handle_privacy_request(record: SQSRecord) -> None:
    message = PrivacyRequestMessage.model_validate(json.loads(record.body))
    if message.event is not None:
        privacy_jobs.handle_event(message.model_dump(mode="json"))
        return
    # The request row is the deduplication key: a finished request ignores every later delivery.
    stores = privacy_job.Stores(blobs=bootstrap.blob_store(), exports=bootstrap.subject_export_store())
    outcome = privacy_jobs.run_request(bootstrap.unit_of_work(), stores, bootstrap.job_locks(), message.request_id)
    logger.info("privacy request stage", extra={"request_id": str(message.request_id), "outcome": outcome})


@bp.on_sqs_message(queue=PRIVACY_REQUEST_QUEUE, batch_size=1, name="privacy_request_worker")
def privacy_request_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_privacy_request)


def handle_delivery(record: SQSRecord) -> None:
    message = DeliveryMessage.model_validate(json.loads(record.body))
    # Idempotent: the run's state guards a duplicate message.
    outcome = run_delivery(bootstrap.unit_of_work(), bootstrap.delivery_targets(), message.run_id)
    logger.info("partner delivery", extra={"run_id": str(message.run_id), "outcome": outcome})


@bp.on_sqs_message(queue=DELIVERY_QUEUE, batch_size=1, name="delivery_worker")
def delivery_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_delivery)


def handle_export_job(record: SQSRecord, time_left: Callable[[], float]) -> None:
    message = ExportJobMessage.model_validate(json.loads(record.body))
    # Idempotent: the job row is the checkpoint; a finished job ignores every later delivery.
    outcome = export_jobs.run_job(bootstrap.unit_of_work(), bootstrap.export_store(), bootstrap.job_locks(),
                                  message.job_id, time_left=time_left)
    logger.info("export job stage", extra={"job_id": str(message.job_id), "outcome": outcome})


def remaining_s(event: SQSEvent) -> Callable[[], float]:
    """The invocation's seconds left, from the Lambda context (15 minutes when there is none)."""
    context = getattr(event, "context", None)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float(context.get_remaining_time_in_millis()) / 1000
    deadline = time.monotonic() + 900
    return lambda: deadline - time.monotonic()


@bp.on_sqs_message(queue=EXPORT_JOB_QUEUE, batch_size=1, name="export_job_worker")
def export_job_worker(event: SQSEvent) -> dict[str, Any]:
    time_left = remaining_s(event)
    return run_batch(event, lambda record: handle_export_job(record, time_left))


# Topic of the outbox -> the Lambda handler that consumes its queue (the local dispatcher uses this too).
HANDLERS: dict[str, Callable[[dict[str, Any], Any], Any]] = {
    "guardrail": guardrail_worker,  # type: ignore[dict-item]
    "consensus": consensus_worker,  # type: ignore[dict-item]
    "spot_check": spot_check_worker,  # type: ignore[dict-item]
    "privacy_request": privacy_request_worker,  # type: ignore[dict-item]
    "delivery": delivery_worker,  # type: ignore[dict-item]
    "export_job": export_job_worker,  # type: ignore[dict-item]
}
