"""The one Anthropic client both adapters share: one error for an unpriced model, one mapping of
SDK errors (``AnthropicError`` included) to failures, the same retries."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anthropic
import pytest

from chalicelib.adapters.anthropic.classifier import AnthropicClassifier
from chalicelib.adapters.anthropic.client import AnthropicClient, Failure, UnpricedModel
from chalicelib.adapters.anthropic.vision import AnthropicVisionVerifier
from chalicelib.domain.hyperlocal import PairPhoto, PairTask
from chalicelib.domain.layer_b import ClassifierInput

ADAPTERS: list[type[AnthropicClassifier] | type[AnthropicVisionVerifier]] = [
    AnthropicClassifier, AnthropicVisionVerifier,
]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_unpriced_model_raises_the_same_error_in_both_adapters(
    adapter: type[AnthropicClassifier] | type[AnthropicVisionVerifier],
) -> None:
    with pytest.raises(UnpricedModel):
        adapter(api_key="k", model="claude-sonnet-5-5")
    assert issubclass(UnpricedModel, ValueError)
    adapter(api_key="k", model="claude-haiku-4-5-20251001")  # a dated snapshot of a priced model


class _Raising:
    """An SDK stand-in whose every call raises the given error."""

    def __init__(self, error: Exception) -> None:
        self.calls = 0
        self.error = error
        self.messages = SimpleNamespace(create=self.create)

    def create(self, **_: Any) -> Any:
        self.calls += 1
        raise self.error


def _client(sdk: _Raising) -> AnthropicClient:
    client = AnthropicClient(api_key="k", timeout_s=1.0, sleep=lambda _: None, log_event="test_attempt_failed")
    client._client = sdk  # type: ignore[assignment]
    return client


def test_a_client_side_sdk_error_is_a_failure_that_is_not_retried() -> None:
    sdk = _Raising(anthropic.AnthropicError("bad request options"))
    client = _client(sdk)
    outcome, attempts = client.with_retries(lambda: client.call(sdk.create, retry_timeouts=True), "op")
    assert outcome == Failure("client error: AnthropicError", retryable=False)
    assert (attempts, sdk.calls) == (1, 1)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_both_adapters_answer_an_sdk_error_with_a_result_never_an_exception(
    adapter: type[AnthropicClassifier] | type[AnthropicVisionVerifier],
) -> None:
    sdk = _Raising(anthropic.AnthropicError("bad request options"))
    built = adapter(api_key="k", sleep=lambda _: None)
    built._client._client = sdk  # type: ignore[assignment]
    if isinstance(built, AnthropicClassifier):
        result = built.classify(ClassifierInput(kind="problem", title="t", body="b", domain=None))
        error, answered = result.error, result.assessment is not None
    else:
        photo = PairPhoto(b"\xff\xd8\xff", "image/jpeg")
        verification = built.verify(photo, photo, PairTask(title="t", domain="food_security", steps=("a",)))
        error, answered = verification.error, verification.assessment is not None
    assert not answered
    assert error == "client error: AnthropicError (attempts: 1)"
    assert sdk.calls == 1
