"""Depths of the SQS dead-letter queues (AWS only; boto3 is imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.sqs_sender import queue_name
from chalicelib.observability import logger


def dead_letter_queue_names(prefix: str, topics: Sequence[str]) -> list[str]:
    """infra/queues.yaml names each stage queue's DLQ `<queue>-dlq`."""
    return [queue_name(prefix, topic) + "-dlq" for topic in topics]


def dead_letter_depths(names: Sequence[str], *, region: str, client: Any = None) -> dict[str, int | None]:
    """Visible + in-flight messages per dead-letter queue; None for a queue that cannot be read."""
    if client is None:
        import boto3

        client = boto3.client("sqs", region_name=region)
    depths: dict[str, int | None] = {}
    for name in names:
        try:
            url = client.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[name] = int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
                attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
        except Exception as exc:
            logger.warning("dead-letter queue depth unknown", extra={"queue": name, "error": type(exc).__name__})
            depths[name] = None
    return depths
