"""Defect 7 at the rule level: whatever a stored flag value is, reading flags never fails and every
effective value is valid for its flag."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.flags import FLAGS, resolve, spec_for

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


@given(st.dictionaries(st.sampled_from(sorted(FLAGS)), json_values))
def test_defect_7_resolving_any_stored_values_never_fails_and_yields_valid_values(stored: dict[str, Any]) -> None:
    values = resolve(stored)
    assert set(values) == set(FLAGS)
    for name, value in values.items():
        assert FLAGS[name].validate(value) == value


@pytest.mark.parametrize(("name", "value"), [
    ("SUBMISSION_COST_MULTIPLIER", 10**400),
    ("SUBMISSION_COST_MULTIPLIER", float("nan")),
    ("VALIDATION_REWARD_MULTIPLIER", float("inf")),
    ("PEER_VALIDATION_TRAFFIC_PCT", 101),
    ("PEER_VALIDATION_TRAFFIC_PCT", 10.5),
    ("PEER_VALIDATION_TRAFFIC_PCT", True),
    ("PEER_VALIDATION_ENABLED", 1),
    ("SPOT_CHECK_PCT", "5"),
])
def test_a_bad_value_is_refused_on_write(name: str, value: object) -> None:
    with pytest.raises(ValidationFailed):
        spec_for(name).validate(value)
