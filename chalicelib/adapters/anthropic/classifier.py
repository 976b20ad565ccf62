"""Layer B through the Anthropic Messages API: a forced tool call with prompt caching for one
submission, and Message Batches for the spot checks. The client (retries, pricing, errors) is
``client.py``; the prompt is ``prompts.py``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from chalicelib.adapters.anthropic.client import DEFAULT_MODEL, AnthropicClient, Failure, read_tool_call, usage_of
from chalicelib.adapters.anthropic.prompts import TOOL_NAME, request_params
from chalicelib.domain.layer_b import ZERO_USAGE, Assessment, BatchUnavailable, ClassifierInput, ClassifierResult, Usage

_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def read_assessment(message: object) -> Assessment | Failure:
    """The assessment in a Messages API response, or why there is none."""
    return read_tool_call(message, TOOL_NAME, Assessment, refused="model refused to classify")


class AnthropicClassifier:
    """Layer B backed by Claude. Retries are ours (the client's are off), so the count is exact."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = AnthropicClient(
            api_key=api_key, model=model, base_url=base_url, timeout_s=timeout_s, max_attempts=max_attempts,
            backoff_base_s=backoff_base_s, sleep=sleep, log_event="layer_b_attempt_failed",
        )
        self.model = model
        self.base_url = self._client.base_url

    def __repr__(self) -> str:
        return f"AnthropicClassifier(model={self.model!r}, base_url={self.base_url!r})"

    # --- one call ---------------------------------------------------------------------------

    def classify(self, item: ClassifierInput) -> ClassifierResult:
        """Classify one submission; never raises for API trouble.

        Up to ``max_attempts`` calls: 429, 529, 5xx, timeouts, connection errors and malformed
        responses are retried after ``retry-after`` when the server sends one, else after
        ``backoff_base_s * 2**(attempt-1)``. On exhaustion the result has no assessment and says
        why. Usage and cost add up every attempt that returned tokens.
        """
        client = self._client
        started = time.monotonic()
        params = request_params(self.model, item)
        spent: list[Usage] = []

        def attempt() -> Assessment | Failure:
            message = client.call(lambda: client.sdk().messages.create(**params), retry_timeouts=True)
            if isinstance(message, Failure):
                return message
            spent.append(usage_of(message))
            return read_assessment(message)

        outcome, attempts = client.with_retries(attempt, "classify")
        usage = sum(spent, ZERO_USAGE)
        return ClassifierResult(
            assessment=None if isinstance(outcome, Failure) else outcome,
            classifier="anthropic",
            model=self.model,
            usage=usage,
            cost_usd_micros=client.cost(usage),
            attempts=attempts,
            latency_ms=round((time.monotonic() - started) * 1000),
            error=f"{outcome.reason} (attempts: {attempts})" if isinstance(outcome, Failure) else None,
        )

    # --- Message Batches (spot checks) ------------------------------------------------------

    def submit_batch(self, items: Sequence[tuple[str, ClassifierInput]]) -> str:
        """Submit items keyed by custom id (``[A-Za-z0-9_-]{1,64}``, unique); returns the batch id.

        Raises :class:`BatchUnavailable` when the API keeps failing. Timeouts are not retried
        here: the batch may have been created, and a second one would bill twice.
        """
        client = self._client
        ids = [custom_id for custom_id, _ in items]
        if not ids:
            raise ValueError("a batch needs at least one item")
        if len(set(ids)) != len(ids) or not all(_CUSTOM_ID.match(i) for i in ids):
            raise ValueError("custom ids must be unique and match [A-Za-z0-9_-]{1,64}")
        requests = [{"custom_id": cid, "params": request_params(self.model, item)} for cid, item in items]
        batch, _ = client.with_retries(
            lambda: client.call(
                lambda: client.sdk().messages.batches.create(requests=requests),  # type: ignore[arg-type]
                retry_timeouts=False,
            ),
            "submit_batch",
        )
        if isinstance(batch, Failure):
            raise BatchUnavailable(batch.reason)
        return str(batch.id)

    def collect_batch(self, batch_id: str) -> dict[str, ClassifierResult] | None:
        """Results by custom id once the batch has ended, ``None`` while it is still processing.

        Each result is priced at the batch discount; its latency is the batch's own (created to
        ended). Errored, canceled or expired requests, and malformed answers, come back as
        results without an assessment. Raises :class:`BatchUnavailable` when the API keeps failing.
        """
        client = self._client
        batch, _ = client.with_retries(
            lambda: client.call(lambda: client.sdk().messages.batches.retrieve(batch_id), retry_timeouts=True),
            "collect_batch",
        )
        if isinstance(batch, Failure):
            raise BatchUnavailable(batch.reason)
        if batch.processing_status != "ended":
            return None
        latency_ms = _elapsed_ms(batch.created_at, batch.ended_at)
        lines, _ = client.with_retries(
            lambda: client.call(lambda: list(client.sdk().messages.batches.results(batch_id)), retry_timeouts=True),
            "collect_batch",
        )
        if isinstance(lines, Failure):
            raise BatchUnavailable(lines.reason)
        results: dict[str, ClassifierResult] = {}
        for line in lines:
            outcome = line.result
            usage = ZERO_USAGE
            assessment: Assessment | None = None
            if outcome.type == "succeeded":
                usage = usage_of(outcome.message)
                read = read_assessment(outcome.message)
                assessment = None if isinstance(read, Failure) else read
                error = read.reason if isinstance(read, Failure) else None
            elif outcome.type == "errored":
                error = f"batch request errored: {getattr(outcome.error.error, 'type', 'unknown')}"
            else:
                error = f"batch request {outcome.type}"
            results[line.custom_id] = ClassifierResult(
                assessment=assessment,
                classifier="anthropic",
                model=self.model,
                usage=usage,
                cost_usd_micros=client.cost(usage, batch=True),
                attempts=1,
                latency_ms=latency_ms,
                error=error,
            )
        return results


def _elapsed_ms(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, round((end - start).total_seconds() * 1000))
