"""Log lines are scrubbed of personal data and secrets, and keep the ids operators need."""

from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib.observability import bind, correlation_id, logger, scrub


@pytest.mark.parametrize(("text", "expected"), [
    ("write to jane.doe+ngo@example.org today", "write to [email] today"),
    ("call +1 415-555-0100 or (415) 555-0199 or 020 7946 0958", "call [phone] or [phone] or [phone]"),
    ("key pgk_0123456789ab_abcdefghijabcdefghijabcdefghijabcdefghij123", "key [api-key]"),
    ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [secret]"),
    ("sk-ant-api03-AbC_dEf", "[api-key]"),
    ("card 4111 1111 1111 1111 and ssn 123-45-6789", "card [card] and ssn [ssn]"),
])
def test_personal_data_and_secrets_are_replaced(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "submission 3fa85f64-5717-4562-b3fc-2c963f66afa6 decided",
    "2026-11-01T12:00:00+00:00 latency 1234.5 ms, 1795306440836",
    "p95 15000 ms over 20 decisions; ratio 0.92; outbox:guardrail 3",
    "route /v1/admin/alerts/{id}/ack answered 409",
])
def test_ids_times_and_figures_are_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_a_log_line_is_scrubbed_whole_and_carries_the_bound_ids() -> None:
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        with bind(request_id="req-1", correlation_id="corr-1"):
            assert correlation_id() == "corr-1"
            logger.warning("agent jane@example.org failed", extra={"detail": "phone +44 20 7946 0958"})
        logger.warning("after")
    finally:
        handler.setStream(previous)
    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert first["message"] == "agent [email] failed" and first["detail"] == "phone [phone]"
    assert (first["request_id"], first["correlation_id"]) == ("req-1", "corr-1")
    assert "correlation_id" not in second and correlation_id() is None
