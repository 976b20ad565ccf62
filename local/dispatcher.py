"""In-process stand-ins for SQS and EventBridge: the outbox goes straight to the same Lambda handlers."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib import bootstrap
from chalicelib.domain.outbox import TOPICS, OutboxMessage
from chalicelib.entrypoints.schedules import run_job
from chalicelib.observability import logger
from chalicelib.services.outbox_relay import relay

Handler = Callable[[dict[str, Any], Any], Any]


class FakeLambdaContext:
    """The few attributes Powertools reads from a Lambda context."""

    function_name = "peerguard-local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:peerguard-local"
    aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def sqs_record(message: OutboxMessage, message_id: str) -> dict[str, Any]:
    """One record shaped as Lambda receives it from SQS (what our relay would have sent)."""
    body = json.dumps({**message.payload, "message_key": message.message_key})
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(message.attempts),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "local",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {
            "correlation_id": {"stringValue": message.correlation_id or "-", "dataType": "String",
                               "stringListValues": [], "binaryListValues": []},
            "message_key": {"stringValue": message.message_key, "dataType": "String",
                            "stringListValues": [], "binaryListValues": []},
        },
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:local:000000000000:peerguard-{message.topic.replace('_', '-')}",
        "awsRegion": "local",
    }


class LocalSender:
    """Delivers outbox messages by invoking the topic's handler with a Lambda-shaped SQS event."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._handlers = handlers

    def send(self, messages: Sequence[OutboxMessage]) -> set[int]:
        failed: set[int] = set()
        by_topic: dict[str, list[OutboxMessage]] = {}
        for m in messages:
            by_topic.setdefault(m.topic, []).append(m)
        for topic, items in by_topic.items():
            handler = self._handlers.get(topic)
            if handler is None:
                logger.warning("no local handler for topic", extra={"topic": topic})
                failed |= {m.id for m in items}
                continue
            for start in range(0, len(items), 10):
                chunk = items[start:start + 10]
                ids = {str(uuid.uuid4()): m.id for m in chunk}
                event = {"Records": [sqs_record(m, mid) for mid, m in zip(ids, chunk, strict=True)]}
                try:
                    result = handler(event, FakeLambdaContext()) or {}
                except Exception:
                    logger.exception("local handler raised", extra={"topic": topic})
                    failed |= set(ids.values())
                    continue
                failed |= {ids[f["itemIdentifier"]] for f in result.get("batchItemFailures", [])}
        return failed


class DuplicatingSender(LocalSender):
    """Delivers every batch twice, the copy concurrently and in reverse order: SQS's at-least-once,
    unordered delivery at its worst (benchmarks, tests, fault drills). The first delivery's failures
    are what the outbox retries; a failed copy is just a duplicate that did not land."""

    def send(self, messages: Sequence[OutboxMessage]) -> set[int]:
        copy = list(reversed(messages))
        twin = threading.Thread(target=super().send, args=(copy,), name="duplicate-delivery", daemon=True)
        twin.start()
        try:
            return super().send(messages)
        finally:
            twin.join()


class Dispatcher(threading.Thread):
    """Polls the outbox and relays due messages through the LocalSender until stopped.

    Like SQS with Lambda, each queue (outbox topic) has ``consumers`` concurrent consumers: each one
    leases up to a batch of its topic's due messages (leases skip each other's rows), hands them to
    the handler and goes again. An idle consumer sleeps ``idle_sleep_s``, doubled after every empty
    poll up to ``max_idle_sleep_s`` (SQS long polling costs the database nothing; polling the outbox
    does), and polls at once again after a batch.
    """

    BATCH = 10  # SQS's default batch size for a Lambda event source

    def __init__(self, sender: LocalSender, *, idle_sleep_s: float = 0.05, max_idle_sleep_s: float = 0.25,
                 consumers: int = 1, topics: Sequence[str] = TOPICS) -> None:
        super().__init__(name="outbox-dispatcher", daemon=True)
        if consumers < 1:
            raise ValueError("a queue needs at least one consumer")
        self._sender = sender
        self._idle_sleep_s = idle_sleep_s
        self._max_idle_sleep_s = max(idle_sleep_s, max_idle_sleep_s)
        self.consumers = consumers
        self._topics = tuple(topics)
        self.stopped = threading.Event()

    def run(self) -> None:
        threads = [threading.Thread(target=self._consume, args=(topic,), name=f"consumer-{topic}-{n}", daemon=True)
                   for topic in self._topics for n in range(self.consumers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _consume(self, topic: str) -> None:
        wait = self._idle_sleep_s
        while not self.stopped.is_set():
            try:
                sent = relay(bootstrap.unit_of_work(), self._sender, limit=self.BATCH, topic=topic)
            except Exception:
                logger.exception("dispatcher cycle failed", extra={"topic": topic})
                sent = 0
            if sent:
                wait = self._idle_sleep_s
                continue
            self.stopped.wait(wait)
            wait = min(wait * 2, self._max_idle_sleep_s)


class Scheduler(threading.Thread):
    """Runs every scheduled job at its cadence, the first run shortly after start.

    As EventBridge invokes each rule's function on its own, each run has its own thread: a slow job
    (an outbox sweep handing a backlog to slow handlers) never holds the others back (the alert
    engine, the evaluation timeouts). A job still running when it is due again is not started twice.
    """

    def __init__(self, jobs: Sequence[Any], *, first_delay_s: float = 2.0) -> None:
        super().__init__(name="scheduler", daemon=True)
        self._jobs = list(jobs)
        start = time.monotonic() + first_delay_s
        self._next = {job.name: start for job in self._jobs}
        self._running: dict[str, threading.Thread] = {}
        self.stopped = threading.Event()
        self.runs: dict[str, datetime] = {}

    def run(self) -> None:
        while not self.stopped.is_set():
            now = time.monotonic()
            for job in self._jobs:
                running = self._running.get(job.name)
                if now >= self._next[job.name] and (running is None or not running.is_alive()):
                    self._next[job.name] = now + job.every_seconds
                    thread = threading.Thread(target=self._run_one, args=(job,), name=f"job-{job.name}", daemon=True)
                    self._running[job.name] = thread
                    thread.start()
            self.stopped.wait(0.5)

    def _run_one(self, job: Any) -> None:
        try:
            run_job(job)
        except Exception:
            logger.exception("scheduled job failed", extra={"job": job.name})
        self.runs[job.name] = datetime.now(UTC)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the loop and for the runs in flight (each bounded by the same timeout)."""
        super().join(timeout)
        for thread in list(self._running.values()):
            thread.join(timeout)
