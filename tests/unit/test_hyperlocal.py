"""Pure hyperlocal rules: distances, pair rules, verification thresholds (defect 9), attestation
effects, photo limits and template consistency."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import hyperlocal
from chalicelib.domain.errors import PayloadTooLarge, ValidationFailed
from chalicelib.domain.hyperlocal import (
    PairAssessment,
    PairCriteria,
    PairRuleBroken,
    PairVerification,
    PhotoFacts,
    UnsupportedPhotoType,
    boosted_urgency,
    check_pair,
    check_pair_photo,
    decide_pair,
    due_effects,
    haversine_m,
    verification_decision,
)

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)

# --- distances ---------------------------------------------------------------------------------


def test_haversine_matches_known_distances() -> None:
    # Paris (Notre-Dame) to London (St Paul's): about 342.5 km on a sphere of the mean radius.
    assert haversine_m(48.8530, 2.3499, 51.5138, -0.0984) == pytest.approx(342_500, rel=0.005)
    # One degree of latitude is about 111.2 km; 0.0001 degree about 11.1 m.
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, rel=0.001)
    assert haversine_m(45.0, 7.0, 45.0001, 7.0) == pytest.approx(11.12, rel=0.01)
    # Across the antimeridian the short way round.
    assert haversine_m(0, 179.9, 0, -179.9) == pytest.approx(22_239, rel=0.001)


@given(latitudes, longitudes, latitudes, longitudes)
def test_haversine_is_a_symmetric_bounded_distance(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    d = haversine_m(lat1, lon1, lat2, lon2)
    assert d == pytest.approx(haversine_m(lat2, lon2, lat1, lon1), abs=1e-6)
    assert 0 <= d <= math.pi * hyperlocal.EARTH_RADIUS_M + 1e-6
    assert haversine_m(lat1, lon1, lat1, lon1) == 0


points = st.tuples(latitudes, longitudes)


@given(points, points, points)
def test_haversine_obeys_the_triangle_inequality(a: tuple[float, float], b: tuple[float, float],
                                                 c: tuple[float, float]) -> None:
    assert haversine_m(*a, *c) <= haversine_m(*a, *b) + haversine_m(*b, *c) + 1e-6


# --- pairs -------------------------------------------------------------------------------------

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
SITE = (45.4642, 9.1900)
CRITERIA = PairCriteria(min_minutes_between=30, gps_radius_m=50, gps_check=True,
                        site_latitude=SITE[0], site_longitude=SITE[1])


def at(minutes: float, north_m: float = 0.0) -> PhotoFacts:
    """A photo taken `minutes` after T0, `north_m` metres north of the site."""
    return PhotoFacts(T0 + timedelta(minutes=minutes), SITE[0] + north_m / 111_195, SITE[1])


def test_the_after_photo_may_come_exactly_the_minimum_minutes_later() -> None:
    check_pair(at(0), at(30), CRITERIA)


def test_one_second_short_of_the_minimum_breaks_the_pair() -> None:
    with pytest.raises(PairRuleBroken) as caught:
        check_pair(at(0), PhotoFacts(T0 + timedelta(minutes=30) - timedelta(seconds=1), *SITE), CRITERIA)
    assert caught.value.details["rule"] == "min_minutes_between"
    assert caught.value.status == 409


@pytest.mark.parametrize("after_minutes", [0, -5])
def test_the_after_photo_must_be_later_even_without_a_minimum(after_minutes: int) -> None:
    no_minimum = PairCriteria(0, 50, False, *SITE)
    with pytest.raises(PairRuleBroken):
        check_pair(at(0), at(after_minutes), no_minimum)
    check_pair(at(0), PhotoFacts(T0 + timedelta(seconds=1)), no_minimum)


def test_photos_further_apart_than_the_radius_break_the_pair() -> None:
    check_pair(at(0, north_m=-24), at(30, north_m=24), CRITERIA)  # 48 m apart
    with pytest.raises(PairRuleBroken) as caught:
        check_pair(at(0, north_m=-26), at(30, north_m=26), CRITERIA)  # 52 m apart
    assert caught.value.details == {"rule": "gps_radius", "distance_m": 52, "radius_m": 50}


def test_each_photo_must_be_taken_within_the_radius_of_the_site_when_gps_is_checked() -> None:
    check_pair_photo(at(0, north_m=49), CRITERIA)
    with pytest.raises(PairRuleBroken):
        check_pair_photo(at(0, north_m=51), CRITERIA)
    with pytest.raises(ValidationFailed):
        check_pair_photo(PhotoFacts(T0), CRITERIA)
    # Without a GPS check, position does not matter.
    check_pair_photo(PhotoFacts(T0), PairCriteria(30, 50, False, *SITE))
    check_pair_photo(at(0, north_m=5000), PairCriteria(30, 50, False, *SITE))


# --- verification thresholds (defect 9) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("improvement", "confidence", "expected"),
    [
        (0.30, 0.80, "approved"),
        (0.29999, 0.80, "peer_review"),
        (0.30, 0.79999, "peer_review"),
        (1.0, 1.0, "approved"),
        (0.09999, 0.80, "rejected"),
        (0.10, 0.80, "peer_review"),
        (0.0, 0.80, "rejected"),
        (0.0, 0.79999, "peer_review"),
        (0.20, 1.0, "peer_review"),
        (0.95, 0.0, "peer_review"),
    ],
)
def test_verification_thresholds_at_their_exact_boundaries(improvement: float, confidence: float,
                                                            expected: str) -> None:
    assert verification_decision(improvement, confidence) == expected


def test_defect_9_the_improvement_score_decides_the_pair() -> None:
    """The earlier system approved on confidence alone: a confident "nothing changed" was approved."""
    assert verification_decision(0.02, 0.95) == "rejected"
    assert verification_decision(0.20, 0.95) == "peer_review"
    assert verification_decision(0.85, 0.95) == "approved"


@given(unit, unit, unit)
def test_a_higher_improvement_never_gives_a_worse_decision(a: float, b: float, confidence: float) -> None:
    rank = {"rejected": 0, "peer_review": 1, "approved": 2}
    low, high = sorted((a, b))
    assert rank[verification_decision(low, confidence)] <= rank[verification_decision(high, confidence)]


@pytest.mark.parametrize("bad", [(-0.01, 0.9), (0.5, 1.01), (float("nan"), 0.9), (True, 0.9)])
def test_scores_outside_zero_to_one_are_refused(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        verification_decision(*bad)


def test_a_failed_verification_goes_to_peer_review_never_approved() -> None:
    failed = PairVerification(assessment=None, verifier="anthropic", error="HTTP 529 overloaded_error")
    assert decide_pair(failed) == "peer_review"
    confident = PairVerification(assessment=PairAssessment(0.9, 0.9, "cleaned"), verifier="pixel")
    assert decide_pair(confident) == "approved"
    with pytest.raises(ValueError):
        PairVerification(assessment=None, verifier="pixel")


# --- attestations --------------------------------------------------------------------------------


def test_urgency_rises_by_ten_percent_and_is_capped_at_one() -> None:
    assert boosted_urgency(0.5) == pytest.approx(0.55)
    assert boosted_urgency(0.95) == 1.0
    assert boosted_urgency(1.0) == 1.0


@given(unit)
def test_boosted_urgency_stays_in_range_and_never_falls(urgency: float) -> None:
    assert urgency <= boosted_urgency(urgency) + 1e-6 <= 1.0 + 1e-6


@pytest.mark.parametrize(
    ("counts", "effects"),
    [
        ({"confirmed": 2, "resolved": 2, "not_found": 2}, []),
        ({"confirmed": 3, "resolved": 0, "not_found": 0}, ["urgency_boost"]),
        ({"confirmed": 0, "resolved": 3, "not_found": 0}, ["review_resolved"]),
        ({"confirmed": 1, "resolved": 0, "not_found": 7}, ["review_not_found"]),
        ({"confirmed": 3, "resolved": 3, "not_found": 3}, ["urgency_boost", "review_resolved", "review_not_found"]),
    ],
)
def test_three_attestations_of_a_kind_trigger_its_effect(counts: dict[str, int], effects: list[str]) -> None:
    assert due_effects(counts) == effects


# --- photos and templates ------------------------------------------------------------------------


def test_heic_is_refused_with_a_clear_415() -> None:
    with pytest.raises(UnsupportedPhotoType) as caught:
        hyperlocal.check_photo("image/heic", 1000)
    assert caught.value.status == 415 and "HEIC" in caught.value.message and "JPEG" in caught.value.message


def test_photo_type_and_size_limits() -> None:
    assert hyperlocal.check_photo("Image/JPEG; q=1", 15 * 1024 * 1024) == "image/jpeg"
    assert hyperlocal.check_photo("image/png", 1) == "image/png"
    with pytest.raises(PayloadTooLarge):
        hyperlocal.check_photo("image/jpeg", 15 * 1024 * 1024 + 1)
    with pytest.raises(UnsupportedPhotoType):
        hyperlocal.check_photo("application/pdf", 10)


def test_capture_times_in_the_future_are_refused_beyond_clock_skew() -> None:
    hyperlocal.check_capture_time(T0 + timedelta(minutes=5), T0)
    with pytest.raises(ValidationFailed):
        hyperlocal.check_capture_time(T0 + timedelta(minutes=5, seconds=1), T0)


def test_template_fields_must_agree() -> None:
    hyperlocal.check_template(required_photos=2, photo_pairs=1, min_minutes_between=60, duration_minutes=60)
    with pytest.raises(ValidationFailed) as caught:
        hyperlocal.check_template(required_photos=3, photo_pairs=2, min_minutes_between=61, duration_minutes=60)
    assert {d["field"] for d in caught.value.details} == {
        "completion_criteria.photo_pairs", "completion_criteria.min_minutes_between"}


def test_missions_expire_after_thirty_days_by_default_and_within_a_year() -> None:
    assert hyperlocal.mission_expiry(T0, None) == T0 + timedelta(days=30)
    assert hyperlocal.mission_expiry(T0, T0 + timedelta(days=365)) == T0 + timedelta(days=365)
    for bad in (T0, T0 - timedelta(days=1), T0 + timedelta(days=366)):
        with pytest.raises(ValidationFailed):
            hyperlocal.mission_expiry(T0, bad)
