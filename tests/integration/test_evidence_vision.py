"""The before/after vision verifier: the real ``anthropic`` client against the local fake API.

Nothing leaves the machine: the network guard refuses anything but loopback."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from chalicelib.adapters.anthropic.prompts import VISION_TOOL_NAME, comparison_tool_schema
from chalicelib.adapters.anthropic.vision import MAX_IMAGE_BYTES, AnthropicVisionVerifier
from chalicelib.domain.hyperlocal import PairPhoto, PairTask, decide_pair
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    HttpError,
    InvalidToolInput,
    Success,
    ToolCallMissing,
    outbound_network_blocked,
)

TASK = PairTask(title="Litter pick on the canal path", domain="environmental_protection",
                steps=("Photograph before", "Collect litter", "Photograph after"))


def photo(colour: tuple[int, int, int], fmt: str = "JPEG") -> PairPhoto:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format=fmt)
    return PairPhoto(out.getvalue(), "image/jpeg" if fmt == "JPEG" else "image/png")


BEFORE = photo((120, 90, 40))
AFTER = photo((40, 160, 60), "PNG")


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def _world() -> Iterator[tuple[FakeAnthropic, list[str], list[float], AnthropicVisionVerifier]]:
    sleeps: list[float] = []
    with outbound_network_blocked() as refused, FakeAnthropic() as fake:
        verifier = AnthropicVisionVerifier(api_key=fake.api_key, base_url=fake.base_url, timeout_s=2.0,
                                           sleep=sleeps.append)
        yield fake, refused, sleeps, verifier


@pytest.fixture
def fake(_world: tuple[FakeAnthropic, list[str], list[float], AnthropicVisionVerifier]) -> Iterator[FakeAnthropic]:
    api, refused, sleeps, _ = _world
    api.reset()
    sleeps.clear()
    yield api
    assert refused == [], f"a request tried to leave the machine: {refused}"


@pytest.fixture
def verifier(fake: FakeAnthropic,
             _world: tuple[FakeAnthropic, list[str], list[float], AnthropicVisionVerifier]) -> AnthropicVisionVerifier:
    return _world[3]


def test_both_photos_go_as_image_blocks_and_the_tool_call_is_forced(
    fake: FakeAnthropic, verifier: AnthropicVisionVerifier
) -> None:
    fake.enqueue(Success(assessment={"improvement": 0.72, "confidence": 0.9,
                                     "reasoning": "The path is clear of litter in the second photo."}))
    result = verifier.verify(BEFORE, AFTER, TASK)

    assert result.error is None and result.attempts == 1 and result.verifier == "anthropic"
    assert result.assessment is not None and result.assessment.improvement == 0.72
    assert decide_pair(result) == "approved"
    assert result.cost_usd_micros > 0 and result.usage is not None
    [sent] = fake.message_requests()
    body = sent.body
    assert body["tool_choice"] == {"type": "tool", "name": VISION_TOOL_NAME}
    assert body["tools"][0]["input_schema"] == comparison_tool_schema()
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    blocks = body["messages"][0]["content"]
    images = [b for b in blocks if b["type"] == "image"]
    assert [i["source"]["media_type"] for i in images] == ["image/jpeg", "image/png"]
    assert [base64.b64decode(i["source"]["data"]) for i in images] == [BEFORE.data, AFTER.data]
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    # The before photo is announced first, the after photo second.
    assert texts.index("Photo 1, BEFORE the work:") < texts.index("Photo 2, AFTER the work:")
    assert any("Litter pick on the canal path" in t for t in texts)


@pytest.fixture
def sleeps(fake: FakeAnthropic,
           _world: tuple[FakeAnthropic, list[str], list[float], AnthropicVisionVerifier]) -> list[float]:
    return _world[2]


def test_overload_is_retried_after_the_servers_delay_then_succeeds(
    fake: FakeAnthropic, verifier: AnthropicVisionVerifier, sleeps: list[float]
) -> None:
    fake.enqueue(HttpError(529, retry_after=1), InvalidToolInput({"improvement": 7}),
                 Success(assessment={"improvement": 0.05, "confidence": 0.95, "reasoning": "Nothing changed."}))
    result = verifier.verify(BEFORE, AFTER, TASK)
    assert result.attempts == 3 and result.assessment is not None
    assert decide_pair(result) == "rejected"
    # The server's retry-after first, then our backoff (0.5 s x 2).
    assert sleeps == [1.0, 1.0]


def test_when_every_attempt_fails_the_result_says_why_and_goes_to_peer_review(
    fake: FakeAnthropic, verifier: AnthropicVisionVerifier
) -> None:
    fake.enqueue(ToolCallMissing(), HttpError(500), HttpError(503))
    result = verifier.verify(BEFORE, AFTER, TASK)
    assert result.assessment is None and result.attempts == 3
    assert result.error is not None and "HTTP 503" in result.error
    assert decide_pair(result) == "peer_review"


def test_a_client_error_is_not_retried(fake: FakeAnthropic, verifier: AnthropicVisionVerifier) -> None:
    fake.enqueue(HttpError(400, message="image too large"))
    result = verifier.verify(BEFORE, AFTER, TASK)
    assert result.attempts == 1 and result.error is not None and "HTTP 400" in result.error
    assert len(fake.message_requests()) == 1


def test_photos_over_the_api_limit_are_not_sent(fake: FakeAnthropic, verifier: AnthropicVisionVerifier) -> None:
    huge = PairPhoto(b"\xff" * (MAX_IMAGE_BYTES + 1), "image/jpeg")
    result = verifier.verify(huge, AFTER, TASK)
    assert result.assessment is None and fake.message_requests() == []


def test_the_default_answer_of_the_fake_is_not_conclusive(
    fake: FakeAnthropic, verifier: AnthropicVisionVerifier
) -> None:
    # Schema-derived input: 0.5 for both scores, which is neither approval nor rejection.
    result = verifier.verify(BEFORE, AFTER, TASK)
    assert result.assessment is not None
    assert (result.assessment.improvement, result.assessment.confidence) == (0.5, 0.5)
    assert decide_pair(result) == "peer_review"


def test_in_aws_the_vision_key_comes_from_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a secret id is configured in AWS: the verifier reads the key through it."""
    from chalicelib.adapters.anthropic.vision import AnthropicVisionVerifier
    from chalicelib.config import reset_settings
    from functions.privacy import handler

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_SECRET_ID", "peerguard/dev/anthropic-api-key")
    reset_settings()
    looked_up: list[str] = []

    def fake_secret(name: str, *, transform: str | None) -> object:
        looked_up.append(name)
        return "sk-from-secrets-manager"

    monkeypatch.setattr("chalicelib.config._secret", fake_secret)
    built = handler.verifier()
    inner = getattr(built, "inner", built)
    assert isinstance(inner, AnthropicVisionVerifier)
    assert looked_up == ["peerguard/dev/anthropic-api-key"]
    reset_settings()
