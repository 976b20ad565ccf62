"""Before/after verification by Claude vision: both photos as image blocks, a forced tool call,
pydantic validation, and the retries, pricing and error mapping of ``client.py`` (the same as the
Layer B classifier's). The photos and the API key never reach the logs."""

from __future__ import annotations

from typing import Literal

from chalicelib.adapters.anthropic.client import ClaudeAdapter, Failure, read_tool_call
from chalicelib.adapters.anthropic.prompts import VISION_TOOL_NAME, VisionComparison, comparison_params
from chalicelib.domain.hyperlocal import PairAssessment, PairPhoto, PairTask, PairVerification
from chalicelib.domain.layer_b import ZERO_USAGE, Usage

# The Messages API refuses images over 5 MB (base64 adds a third): bigger photos are not sent.
MAX_IMAGE_BYTES = 3_750_000


def read_comparison(message: object) -> VisionComparison | Failure:
    """The comparison in a Messages API response, or why there is none."""
    return read_tool_call(message, VISION_TOOL_NAME, VisionComparison, refused="model refused to compare")


class AnthropicVisionVerifier(ClaudeAdapter):
    """The before/after verifier backed by Claude. Retries are ours (the client's are off)."""

    kind: Literal["anthropic", "pixel"] = "anthropic"
    default_timeout_s = 30.0
    log_event = "vision_attempt_failed"

    def verify(self, before: PairPhoto, after: PairPhoto, task: PairTask) -> PairVerification:
        """Compare two processed photos; never raises for API trouble (the result says why)."""
        for photo in (before, after):
            if len(photo.data) > MAX_IMAGE_BYTES:
                return self._result(Failure("photo too large for the vision API", False), ZERO_USAGE, 0)
        outcome, attempts, usage = self._client.forced_tool_call(
            comparison_params(self.model, before, after, task), read_comparison, "verify")
        return self._result(outcome, usage, attempts)

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
