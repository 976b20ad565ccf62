"""The one Anthropic client of the package: construction, our own retries, pricing and usage
accounting, and the single mapping of SDK errors to failures.

``anthropic`` is imported lazily, on the first call: it costs about a second of cold start and
most Lambda functions of the package never call a model.

Security: the API key is never logged or put in a result, and neither is the content; failure
reasons carry status codes, error types and field names only.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.domain.layer_b import ZERO_USAGE, Usage
from chalicelib.domain.pricing import cost_usd_micros, price_for
from chalicelib.observability import logger

if TYPE_CHECKING:
    import anthropic

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-haiku-4-5"
# A server asking us to wait longer than this gets no retry: the work goes to human review rather
# than holding a worker for minutes.
MAX_RETRY_WAIT_S = 20.0


class UnpricedModel(ValueError):
    """A model without an entry in the price table: its calls could not be counted against the
    budget, so no adapter may be built for it."""


@dataclass(frozen=True)
class Failure:
    """Why a call gave no usable answer, and whether trying again may help."""

    reason: str
    retryable: bool
    retry_after_s: float | None = None


def retry_after_s(headers: Any) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, ``retry-after`` seconds or HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            pass
        if name == "retry-after":
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return None
            return max(0.0, when.timestamp() - time.time())
    return None


def usage_of(message: Any) -> Usage:
    """The token counts of a response (zero for any count missing or malformed)."""
    usage = getattr(message, "usage", None)
    if usage is None:
        return ZERO_USAGE

    def count(name: str) -> int:
        value = getattr(usage, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    return Usage(
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cache_creation_input_tokens=count("cache_creation_input_tokens"),
        cache_read_input_tokens=count("cache_read_input_tokens"),
    )


def validation_summary(err: ValidationError) -> str:
    """Field locations and error types only: the input values may echo the content."""
    return "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["type"] for e in err.errors()[:5])


def read_tool_call(message: Any, tool_name: str, schema: type[M], *, refused: str) -> M | Failure:
    """The input of the forced tool call in a Messages API response, validated; or why there is none."""
    try:
        if getattr(message, "stop_reason", None) == "refusal":
            return Failure(refused, retryable=False)
        blocks = [b for b in message.content if getattr(b, "type", None) == "tool_use"]
        if not blocks:
            return Failure("malformed response: no tool_use block", retryable=True)
        if blocks[0].name != tool_name:
            return Failure("malformed response: unexpected tool", retryable=True)
        return schema.model_validate(blocks[0].input)
    except ValidationError as err:
        return Failure(f"invalid tool input: {validation_summary(err)}", retryable=True)
    except (AttributeError, TypeError):
        return Failure("malformed response: unexpected shape", retryable=True)


class AnthropicClient:
    """An SDK client with its retries off: retries are ours, so the count of attempts is exact."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float,
        max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        log_event: str,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        try:
            price_for(model)
        except KeyError:
            raise UnpricedModel(f"model {model!r} has no entry in the price table") from None
        if timeout_s <= 0 or max_attempts < 1 or backoff_base_s < 0:
            raise ValueError("timeout_s > 0, max_attempts >= 1 and backoff_base_s >= 0 are required")
        self._api_key = api_key
        self.model = model
        # Explicit, so the SDK never falls back to its own environment variables.
        self.base_url = base_url or DEFAULT_BASE_URL
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self._sleep = sleep
        self._log_event = log_event
        self._client: anthropic.Anthropic | None = None

    def __repr__(self) -> str:
        return f"AnthropicClient(model={self.model!r}, base_url={self.base_url!r})"

    def sdk(self) -> anthropic.Anthropic:
        if self._client is None:
            import anthropic

            self._client = anthropic.Anthropic(
                api_key=self._api_key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0
            )
        return self._client

    def cost(self, usage: Usage, *, batch: bool = False) -> int:
        """What the usage cost, in integer micro-dollars (the Message Batches discount with ``batch``)."""
        return cost_usd_micros(self.model, usage, batch=batch)

    def call(self, fn: Callable[[], T], *, retry_timeouts: bool) -> T | Failure:
        """Run one SDK call, turning its errors into a :class:`Failure` that says whether to retry."""
        import anthropic

        try:
            return fn()
        except anthropic.APIStatusError as err:
            status = err.status_code
            retryable = status in (408, 429) or status >= 500
            return Failure(f"HTTP {status} {err.type or 'error'}", retryable, retry_after_s(err.response.headers))
        except anthropic.APITimeoutError:
            return Failure(f"timeout after {self.timeout_s:g}s", retry_timeouts)
        except anthropic.APIConnectionError:
            return Failure("connection error", retryable=True)
        except anthropic.AnthropicError as err:
            return Failure(f"client error: {type(err).__name__}", retryable=False)
        except ValueError:
            # A 200 whose body is not JSON (json.JSONDecodeError is a ValueError).
            return Failure("malformed response: body is not JSON", retryable=True)

    def with_retries(self, attempt: Callable[[], T | Failure], operation: str) -> tuple[T | Failure, int]:
        """Run ``attempt`` up to ``max_attempts`` times; returns the last outcome and the count.

        A retryable failure waits ``retry-after`` when the server sent one, else
        ``backoff_base_s * 2**(attempt-1)``; a server asking for more than ``MAX_RETRY_WAIT_S``
        ends the attempts.
        """
        outcome: T | Failure = Failure("not attempted", retryable=False)
        for number in range(1, self.max_attempts + 1):
            outcome = attempt()
            if not isinstance(outcome, Failure):
                return outcome, number
            logger.warning(self._log_event, extra={"operation": operation, "attempt": number,
                                                   "reason": outcome.reason, "model": self.model})
            if not outcome.retryable or number == self.max_attempts:
                return outcome, number
            delay = outcome.retry_after_s
            if delay is None:
                delay = self.backoff_base_s * 2 ** (number - 1)
            if delay > MAX_RETRY_WAIT_S:
                return Failure(f"{outcome.reason}; server asked to wait {delay:g}s", False), number
            self._sleep(delay)
        return outcome, self.max_attempts
