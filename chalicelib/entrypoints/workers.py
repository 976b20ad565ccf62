"""SQS stages as thin Chalice handlers: parse each record, call one service, report partial failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import Blueprint, SQSEvent
from pydantic import BaseModel, ConfigDict

from chalicelib import bootstrap
from chalicelib.observability import bind, logger, metrics

bp = Blueprint(__name__)

# Queue names are fixed at packaging time; infra/ creates them (with DLQs) under the same names.
GUARDRAIL_QUEUE = "peerguard-guardrail"
CONSENSUS_QUEUE = "peerguard-consensus"
SPOT_CHECK_QUEUE = "peerguard-spot-check"


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


def message_key(record: SQSRecord, parsed: OutboxEnvelope) -> str:
    return parsed.message_key or f"sqs:{record.message_id}"


def correlation_id(record: SQSRecord) -> str:
    attribute = record.raw_event.get("messageAttributes", {}).get("correlation_id") or {}
    value = attribute.get("stringValue")
    return str(value) if value and value != "-" else record.message_id


def run_batch(event: SQSEvent, handle: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Powertools' batch processor: failed records are reported, the others are acknowledged."""
    # Even a batch where every record failed answers with its failures (SQS retries just those).
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def traced(record: SQSRecord) -> None:
        with bind(correlation_id=correlation_id(record), message_id=record.message_id):
            handle(record)

    result: dict[str, Any] = dict(process_partial_response(
        event=event.to_dict(), record_handler=traced, processor=processor, context=None
    ))
    failures = len(result.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="WorkerRecordFailures", unit="Count", value=failures)
    metrics.flush_metrics()
    return result


def handle_guardrail(record: SQSRecord) -> None:
    from chalicelib.services.guardrail import run_guardrail

    message = GuardrailMessage.model_validate(json.loads(record.body))
    outcome = run_guardrail(bootstrap.unit_of_work(), message.submission_id, message_key(record, message),
                            bootstrap.classifier())
    logger.info("guardrail stage", extra={"submission_id": str(message.submission_id), "outcome": outcome})


@bp.on_sqs_message(queue=GUARDRAIL_QUEUE, batch_size=10, name="guardrail_worker")
def guardrail_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_guardrail)


def handle_consensus(record: SQSRecord) -> None:
    from chalicelib.services.consensus import run_consensus

    message = ConsensusMessage.model_validate(json.loads(record.body))
    outcome = run_consensus(bootstrap.unit_of_work(), message.submission_id, message_key(record, message))
    logger.info("consensus stage", extra={"submission_id": str(message.submission_id), "outcome": outcome})


@bp.on_sqs_message(queue=CONSENSUS_QUEUE, batch_size=10, name="consensus_worker")
def consensus_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_consensus)


def handle_spot_check(record: SQSRecord) -> None:
    from chalicelib.services.spot_checks import run_spot_check

    message = SpotCheckMessage.model_validate(json.loads(record.body))
    outcome = run_spot_check(bootstrap.unit_of_work(), message.spot_check_id, message_key(record, message),
                             bootstrap.classifier())
    logger.info("spot-check stage", extra={"spot_check_id": str(message.spot_check_id), "outcome": outcome})


@bp.on_sqs_message(queue=SPOT_CHECK_QUEUE, batch_size=10, name="spot_check_worker")
def spot_check_worker(event: SQSEvent) -> dict[str, Any]:
    return run_batch(event, handle_spot_check)


# Topic of the outbox -> the Lambda handler that consumes its queue (the local dispatcher uses this too).
HANDLERS: dict[str, Callable[[dict[str, Any], Any], Any]] = {
    "guardrail": guardrail_worker,  # type: ignore[dict-item]
    "consensus": consensus_worker,  # type: ignore[dict-item]
    "spot_check": spot_check_worker,  # type: ignore[dict-item]
}
