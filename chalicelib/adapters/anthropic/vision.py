"""Before/after verification by Claude vision: both photos as image blocks, a forced tool call,
pydantic validation, and the retries, pricing and error mapping of ``client.py`` (the same as the
Layer B classifier's). The photos and the API key never reach the logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from chalicelib.adapters.anthropic.client import DEFAULT_MODEL, AnthropicClient, Failure, read_tool_call, usage_of
from chalicelib.adapters.anthropic.prompts import VISION_TOOL_NAME, VisionComparison, comparison_params
from chalicelib.domain.hyperlocal import PairAssessment, PairPhoto, PairTask, PairVerification
from chalicelib.domain.layer_b import ZERO_USAGE, Usage

# The Messages API refuses images over 5 MB (base64 adds a third): bigger photos are not sent.
MAX_IMAGE_BYTES = 3_750_000


def read_comparison(message: object) -> VisionComparison | Failure:
    """The comparison in a Messages API response, or why there is none."""
    return read_tool_call(message, VISION_TOOL_NAME, VisionComparison, refused="model refused to compare")


class AnthropicVisionVerifier:
    """The before/after verifier backed by Claude. Retries are ours (the client's are off)."""

    kind: Literal["anthropic", "pixel"] = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = AnthropicClient(
            api_key=api_key, model=model, base_url=base_url, timeout_s=timeout_s, max_attempts=max_attempts,
            backoff_base_s=backoff_base_s, sleep=sleep, log_event="vision_attempt_failed",
        )
        self.model = model
        self.base_url = self._client.base_url

    def __repr__(self) -> str:
        return f"AnthropicVisionVerifier(model={self.model!r}, base_url={self.base_url!r})"

    def verify(self, before: PairPhoto, after: PairPhoto, task: PairTask) -> PairVerification:
        """Compare two processed photos; never raises for API trouble (the result says why)."""
        for photo in (before, after):
            if len(photo.data) > MAX_IMAGE_BYTES:
                return self._result(Failure("photo too large for the vision API", False), ZERO_USAGE, 0)
        client = self._client
        params = comparison_params(self.model, before, after, task)
        spent: list[Usage] = []

        def attempt() -> VisionComparison | Failure:
            message = client.call(lambda: client.sdk().messages.create(**params), retry_timeouts=True)
            if isinstance(message, Failure):
                return message
            spent.append(usage_of(message))
            return read_comparison(message)

        outcome, attempts = client.with_retries(attempt, "verify")
        return self._result(outcome, sum(spent, ZERO_USAGE), attempts)

    def _result(self, outcome: VisionComparison | Failure, usage: Usage, attempts: int) -> PairVerification:
        usage_dict: dict[str, int] = {
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
        }
        cost = self._client.cost(usage)
        if isinstance(outcome, Failure):
            return PairVerification(assessment=None, verifier="anthropic", model=self.model,
                                    error=f"{outcome.reason} (attempts: {attempts})", attempts=attempts,
                                    cost_usd_micros=cost, usage=usage_dict)
        return PairVerification(
            assessment=PairAssessment(outcome.improvement, outcome.confidence, outcome.reasoning),
            verifier="anthropic", model=self.model, attempts=attempts, cost_usd_micros=cost, usage=usage_dict,
        )
