"""Cursors over lists whose ids may be negative (credit history: waivers carry negated entry ids)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.pagination import decode_cursor, encode_cursor

WHEN = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_a_signed_id_survives_the_round_trip(row_id: int) -> None:
    assert decode_cursor(encode_cursor(WHEN, row_id), id_kind="signed_int") == (WHEN, str(row_id))


@pytest.mark.parametrize("row_id", ["-", "--1", "-1.5", "1e3", " 1", "-" + "9" * 30])
def test_malformed_signed_ids_are_validation_errors(row_id: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor(WHEN, row_id), id_kind="signed_int")


def test_plain_int_cursors_still_refuse_negative_ids() -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor(WHEN, -5), id_kind="int")
