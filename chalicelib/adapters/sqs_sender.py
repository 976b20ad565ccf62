"""Send outbox messages to SQS, one queue per topic, with correlation ids as message attributes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.domain.outbox import OutboxMessage


def queue_name(prefix: str, topic: str) -> str:
    return f"{prefix}-{topic.replace('_', '-')}"


class SqsSender:
    def __init__(self, *, prefix: str, region: str, client: Any = None) -> None:
        self._prefix = prefix
        self._region = region
        self._client = client
        self._urls: dict[str, str] = {}

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3  # loaded only on the paths that send

            self._client = boto3.client("sqs", region_name=self._region)
        return self._client

    def _url(self, topic: str) -> str:
        if topic not in self._urls:
            self._urls[topic] = self._sqs().get_queue_url(QueueName=queue_name(self._prefix, topic))["QueueUrl"]
        return self._urls[topic]

    def send(self, messages: Sequence[OutboxMessage]) -> set[int]:
        failed: set[int] = set()
        by_topic: dict[str, list[OutboxMessage]] = {}
        for m in messages:
            by_topic.setdefault(m.topic, []).append(m)
        for topic, items in by_topic.items():
            for start in range(0, len(items), 10):
                chunk = items[start:start + 10]
                entries = [
                    {
                        "Id": str(m.id),
                        "MessageBody": json.dumps({**m.payload, "message_key": m.message_key}),
                        "MessageAttributes": {
                            "correlation_id": {"DataType": "String", "StringValue": m.correlation_id or "-"},
                            "message_key": {"DataType": "String", "StringValue": m.message_key},
                        },
                    }
                    for m in chunk
                ]
                response = self._sqs().send_message_batch(QueueUrl=self._url(topic), Entries=entries)
                failed |= {int(f["Id"]) for f in response.get("Failed", [])}
        return failed
