"""SQS batches through Powertools' batch processor: failed records are reported, the others acknowledged.

Loaded by bootstrap on a worker's first batch, never at import: the processor's module imports every
Powertools event model (Kafka, Kinesis, DynamoDB streams...), a seventh of `import app`, which the API
handler and the schedules never use (bench/bench_cold_import.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def process_sqs_batch(event: dict[str, Any], handle: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Run `handle` on every record; the answer lists the failed ones (`batchItemFailures`)."""
    # Even a batch where every record failed answers with its failures (SQS retries just those).
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=None))
