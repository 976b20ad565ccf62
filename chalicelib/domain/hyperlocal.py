"""Hyperlocal rules: photo limits, distances, before/after pairs and their verification thresholds,
attestation side effects, mission template ranges. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from chalicelib.domain.errors import Conflict, DomainError, PayloadTooLarge, ValidationFailed

# --- photos ------------------------------------------------------------------------------------

ACCEPTED_PHOTO_TYPES = ("image/jpeg", "image/png")
MAX_PHOTO_BYTES = 15 * 1024 * 1024
# Formats people try that the privacy stage cannot clean: refused with a hint instead of a bare 400.
_REFUSED_HINTS = {
    "image/heic": "HEIC photos are not accepted: export the photo as JPEG (most phones can: "
                  "Settings > Camera > Formats > Most Compatible) or PNG",
    "image/heif": "HEIF photos are not accepted: export the photo as JPEG or PNG",
    "image/webp": "WebP photos are not accepted: send JPEG or PNG",
    "image/gif": "GIF images are not accepted: send JPEG or PNG",
}
# Clocks on phones drift; a capture time this far in the future is still accepted.
CLOCK_SKEW = timedelta(minutes=5)
# Earlier capture times are camera clocks never set (0001-01-01, 1970-01-01) or forgeries.
EARLIEST_CAPTURE = datetime(2000, 1, 1, tzinfo=UTC)
MAX_RETRIES = 3  # times a failed photo may be sent through the privacy stage again

Sequence = Literal["before", "after", "standalone"]
EvidenceStatus = Literal["quarantined", "processing", "ready", "rejected"]


class UnsupportedPhotoType(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


def check_photo(content_type: str, size_bytes: int, *, max_bytes: int = MAX_PHOTO_BYTES) -> str:
    """The photo's media type, normalised; refuses types the privacy stage cannot clean and photos
    over the size limit."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared not in ACCEPTED_PHOTO_TYPES:
        hint = _REFUSED_HINTS.get(declared, f"{declared or 'this type'} is not accepted: send JPEG or PNG")
        raise UnsupportedPhotoType(hint, details={"field": "content_type", "accepted": list(ACCEPTED_PHOTO_TYPES)})
    if size_bytes > max_bytes:
        raise PayloadTooLarge(
            f"photos are limited to {max_bytes // (1024 * 1024)} MB",
            details={"field": "size_bytes", "max_bytes": max_bytes},
        )
    return declared


_SIGNATURES = (("image/jpeg", b"\xff\xd8\xff"), ("image/png", b"\x89PNG\r\n\x1a\n"))


def sniff_photo_type(data: bytes) -> str | None:
    """The media type the bytes themselves announce (JPEG or PNG signature), or None."""
    return next((media for media, magic in _SIGNATURES if data.startswith(magic)), None)


def check_photo_bytes(declared: str, data: bytes) -> None:
    """The bytes must be what was declared: a PNG sent as image/jpeg (or the reverse) is refused."""
    found = sniff_photo_type(data)
    if found != declared:
        raise UnsupportedPhotoType(
            f"the bytes are {found or 'neither JPEG nor PNG'}, not {declared} as declared",
            details={"declared": declared, "found": found},
        )


def check_capture_time(captured_at: datetime, now: datetime) -> None:
    """A plausible capture time: not in the future (beyond clock skew), not before EARLIEST_CAPTURE."""
    if captured_at < EARLIEST_CAPTURE:
        raise ValidationFailed(
            f"captured_at is before {EARLIEST_CAPTURE.date().isoformat()}",
            details=[{"field": "captured_at", "message": f"before {EARLIEST_CAPTURE.date().isoformat()}"}],
        )
    if captured_at > now + CLOCK_SKEW:
        raise ValidationFailed(
            "captured_at is in the future", details=[{"field": "captured_at", "message": "in the future"}]
        )


def coarse(value: float, places: int = 2) -> float:
    """A coordinate rounded for display (2 places: about 1 km)."""
    return round(value, places)


@dataclass(frozen=True)
class CleanPhoto:
    """A photo after the privacy stage: re-encoded pixels without metadata, faces and plates blurred."""

    data: bytes
    width: int
    height: int
    content_type: str
    removed_metadata: tuple[str, ...]
    orientation_applied: bool
    faces_blurred: int
    plates_blurred: int
    coarse_location: tuple[float, float] | None
    sha256: str
    recovered_truncated: bool = False  # the upload missed trailing bytes but held every pixel


class PhotoRefused(Exception):
    """The privacy stage refuses a photo (corrupt, too large, unsupported): it stays quarantined."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PhotoProcessor(Protocol):
    def __call__(self, data: bytes, *, blur: bool) -> CleanPhoto:
        """Clean one photo; PhotoRefused for a photo that cannot be cleaned, any other error for trouble."""


# --- distances ---------------------------------------------------------------------------------

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (spherical earth, < 0.5 % error)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# --- before/after pairs ------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoFacts:
    """What a pair rule needs to know about one photo (declared by the uploader)."""

    captured_at: datetime
    latitude: float | None = None
    longitude: float | None = None

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class PairCriteria:
    """The mission template's completion criteria that apply to one pair."""

    min_minutes_between: int
    gps_radius_m: int
    gps_check: bool
    site_latitude: float
    site_longitude: float


class PairRuleBroken(Conflict):
    """A photo breaks a pair rule (order, time between the photos, distance)."""


def check_pair_photo(photo: PhotoFacts, criteria: PairCriteria) -> None:
    """One photo of a pair: when the template asks for a GPS check, it is located within the radius
    of the mission site."""
    if not criteria.gps_check:
        return
    if not photo.located:
        raise ValidationFailed(
            "this mission checks GPS: latitude and longitude are required",
            details=[{"field": "latitude", "message": "required by the mission's GPS check"}],
        )
    assert photo.latitude is not None and photo.longitude is not None
    distance = haversine_m(photo.latitude, photo.longitude, criteria.site_latitude, criteria.site_longitude)
    if distance > criteria.gps_radius_m:
        raise PairRuleBroken(
            f"the photo was taken {distance:.0f} m from the mission site; the limit is {criteria.gps_radius_m} m",
            details={"rule": "gps_radius", "distance_m": round(distance), "radius_m": criteria.gps_radius_m},
        )


def check_pair(before: PhotoFacts, after: PhotoFacts, criteria: PairCriteria) -> None:
    """Both photos of a pair: the after photo is taken at least the template's minimum minutes after
    the before photo (and strictly later), and, with a GPS check, within the radius of it."""
    gap = after.captured_at - before.captured_at
    needed = timedelta(minutes=criteria.min_minutes_between)
    if gap <= timedelta(0) or gap < needed:
        raise PairRuleBroken(
            f"the after photo must be taken at least {criteria.min_minutes_between} minutes after the before photo",
            details={"rule": "min_minutes_between", "minutes_between": round(gap.total_seconds() / 60, 2),
                     "min_minutes_between": criteria.min_minutes_between},
        )
    if criteria.gps_check and before.located and after.located:
        assert before.latitude is not None and before.longitude is not None
        assert after.latitude is not None and after.longitude is not None
        distance = haversine_m(before.latitude, before.longitude, after.latitude, after.longitude)
        if distance > criteria.gps_radius_m:
            raise PairRuleBroken(
                f"the photos were taken {distance:.0f} m apart; the limit is {criteria.gps_radius_m} m",
                details={"rule": "gps_radius", "distance_m": round(distance), "radius_m": criteria.gps_radius_m},
            )


# --- verification ------------------------------------------------------------------------------

APPROVE_MIN_IMPROVEMENT = 0.30
REJECT_BELOW_IMPROVEMENT = 0.10
MIN_CONFIDENCE = 0.80

PairDecision = Literal["approved", "rejected", "peer_review"]


@dataclass(frozen=True)
class PairAssessment:
    """How much the after photo improves on the before photo, how sure the verifier is, and why."""

    improvement: float
    confidence: float
    reasoning: str

    def __post_init__(self) -> None:
        for name in ("improvement", "confidence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class PairVerification:
    """One verification, successful or not: exactly one of assessment and error is set."""

    assessment: PairAssessment | None
    verifier: Literal["anthropic", "pixel"]
    model: str | None = None
    error: str | None = None
    attempts: int = 1
    cost_usd_micros: int = 0
    usage: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if (self.assessment is None) == (self.error is None):
            raise ValueError("exactly one of assessment and error must be set")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier,
            "model": self.model,
            "improvement": self.assessment.improvement if self.assessment else None,
            "confidence": self.assessment.confidence if self.assessment else None,
            "reasoning": self.assessment.reasoning if self.assessment else None,
            "error": self.error,
            "attempts": self.attempts,
            "cost_usd_micros": self.cost_usd_micros,
            "usage": self.usage,
        }


@dataclass(frozen=True)
class PairPhoto:
    """A processed photo handed to a verifier."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class PairTask:
    """What the mission asked for, so the verifier knows what an improvement looks like."""

    title: str
    domain: str
    steps: tuple[str, ...]


class PairVerifier(Protocol):
    kind: Literal["anthropic", "pixel"]

    def verify(self, before: PairPhoto, after: PairPhoto, task: PairTask) -> PairVerification:
        """Compare the two photos; report failures in the result rather than raising."""


def verification_decision(improvement: float, confidence: float) -> PairDecision:
    """Approve at improvement >= 0.30 and reject below 0.10, each only with confidence >= 0.80;
    everything else goes to peer review. The improvement score decides (defect 9 of the earlier
    system ignored it)."""
    PairAssessment(improvement, confidence, "-")  # range check
    if confidence >= MIN_CONFIDENCE:
        if improvement >= APPROVE_MIN_IMPROVEMENT:
            return "approved"
        if improvement < REJECT_BELOW_IMPROVEMENT:
            return "rejected"
    return "peer_review"


def decide_pair(verification: PairVerification) -> PairDecision:
    """A failed verification is never an approval: it goes to peer review."""
    if verification.assessment is None:
        return "peer_review"
    return verification_decision(verification.assessment.improvement, verification.assessment.confidence)


# --- attestations ------------------------------------------------------------------------------

AttestationStatus = Literal["confirmed", "resolved", "not_found"]
ATTESTATION_STATUSES: tuple[AttestationStatus, ...] = ("confirmed", "resolved", "not_found")
ATTESTATION_THRESHOLD = 3
URGENCY_FACTOR = 1.10
DEFAULT_URGENCY = 0.5

Effect = Literal["urgency_boost", "review_resolved", "review_not_found"]


def boosted_urgency(urgency: float) -> float:
    """Urgency x1.10, capped at 1.0."""
    return min(1.0, round(urgency * URGENCY_FACTOR, 6))


def due_effects(counts: dict[str, int]) -> list[Effect]:
    """The side effects the counts call for: 3+ confirmed raise urgency, 3+ resolved or 3+ not_found
    queue the problem for review. The caller applies each at most once per problem."""
    effects: list[Effect] = []
    if counts.get("confirmed", 0) >= ATTESTATION_THRESHOLD:
        effects.append("urgency_boost")
    if counts.get("resolved", 0) >= ATTESTATION_THRESHOLD:
        effects.append("review_resolved")
    if counts.get("not_found", 0) >= ATTESTATION_THRESHOLD:
        effects.append("review_not_found")
    return effects


# --- mission templates -------------------------------------------------------------------------

Difficulty = Literal["easy", "medium", "hard"]
GPS_RADIUS_M = (10, 5000)
DURATION_MINUTES = (5, 480)
REQUIRED_PHOTOS = (1, 20)
PHOTO_PAIRS = (0, 10)
MAX_STEPS = 30
MISSION_DEFAULT_LIFETIME = timedelta(days=30)
MISSION_MAX_LIFETIME = timedelta(days=365)


def check_template(*, required_photos: int, photo_pairs: int, min_minutes_between: int,
                   duration_minutes: int) -> None:
    """Rules across fields of a template (each field's own range is checked where it is parsed)."""
    problems: list[dict[str, str]] = []
    if photo_pairs * 2 > required_photos:
        problems.append({"field": "completion_criteria.photo_pairs",
                         "message": "each pair takes two of the required photos"})
    if min_minutes_between > duration_minutes:
        problems.append({"field": "completion_criteria.min_minutes_between",
                         "message": "must not exceed duration_minutes"})
    if problems:
        raise ValidationFailed("mission template is not consistent", details=problems)


def mission_expiry(now: datetime, requested: datetime | None) -> datetime:
    """When a mission expires: 30 days by default, in the future and within a year."""
    if requested is None:
        return now + MISSION_DEFAULT_LIFETIME
    if requested <= now or requested > now + MISSION_MAX_LIFETIME:
        raise ValidationFailed(
            "expires_at must be in the future and within 365 days",
            details=[{"field": "expires_at", "message": "out of range"}],
        )
    return requested
