"""Pure rules of partner deliveries: which addresses a delivery may reach, signatures, cron, backoff."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import deliveries as d
from chalicelib.domain.errors import ValidationFailed

PRIVATE_V4 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                                                "169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4",
                                                "240.0.0.0/4")]


@given(st.sampled_from(PRIVATE_V4), st.integers(0, 2**32 - 1))
def test_every_private_loopback_link_local_or_reserved_ipv4_is_forbidden_also_mapped_into_ipv6(
    network: ipaddress.IPv4Network, offset: int,
) -> None:
    address = network[offset % network.num_addresses]
    assert d.forbidden_addresses([str(address)]) == [str(address)]
    mapped = f"::ffff:{address}"
    assert d.forbidden_addresses([mapped]) == [mapped]


@pytest.mark.parametrize("address", ["::1", "fe80::1", "fc00::1", "fd12:3456::1", "::", "ff02::1", "2001:db8::1"])
def test_private_and_special_ipv6_addresses_are_forbidden(address: str) -> None:
    assert d.forbidden_addresses([address]) == [address]


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert d.forbidden_addresses([address]) == []


@given(st.binary(max_size=2000), st.text(min_size=16, max_size=64), st.integers(1_000_000_000, 3_000_000_000))
def test_a_signature_verifies_only_for_its_body_secret_and_time(body: bytes, secret: str, now: int) -> None:
    header = d.sign(secret, body, now)
    assert d.verify(secret, body, header, now)
    assert d.verify(secret, body, header, now + d.SIGNATURE_TOLERANCE_S)
    assert not d.verify(secret, body, header, now + d.SIGNATURE_TOLERANCE_S + 1)  # replayed later
    assert not d.verify(secret, body + b"x", header, now)
    assert not d.verify(secret + "x", body, header, now)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1", "garbage"])
def test_malformed_signature_headers_do_not_verify(header: str) -> None:
    assert not d.verify("secret-secret-secret", b"{}", header, 1)


def test_cron_next_runs_are_the_next_three_matching_minutes() -> None:
    after = datetime(2026, 12, 5, 9, 7, tzinfo=UTC)
    assert d.next_runs(d.check_cron("*/15 * * * *"), after) == [
        datetime(2026, 12, 5, 9, 15, tzinfo=UTC), datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
        datetime(2026, 12, 5, 9, 45, tzinfo=UTC)]
    with pytest.raises(ValidationFailed):
        d.check_cron("@hourly")


def test_three_attempts_with_exponential_backoff_then_failed() -> None:
    assert [d.retry_delay_s(a, 60) for a in (1, 2)] == [60, 120]
    assert [d.next_status(a, ok=False) for a in (1, 2, 3)] == ["retrying", "retrying", "failed"]
    assert d.next_status(3, ok=True) == "succeeded"
