"""A hyperlocal world for evidence stories: a template, a mission at a site, a human with a key, and
photos that carry everything a phone leaks (GPS, owner, serial number, XMP, a comment)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import piexif
import pytest
from PIL import Image

from tests.support import Api, admin_key, api_client

SITE = (45.4642, 9.1900)  # the mission's site; the photos' GPS says the same place
SECRETS = (b"Jane Owner", b"SN-98765432", b"PhoneMaker", b"Model-X", b"Xmp Secret Person", b"taken at home",
           b"http://ns.adobe.com/xap/1.0/")

TEMPLATE: dict[str, Any] = {
    "name": "Clear the litter at a bus stop",
    "domain": "environmental_protection",
    "difficulty": "easy",
    "required_photos": 2,
    "completion_criteria": {"photo_pairs": 1, "gps_check": True, "min_minutes_between": 30},
    "steps": ["Photograph the bus stop", "Clear the litter", "Photograph it again from the same spot"],
    "gps_radius_m": 100,
    "duration_minutes": 120,
}


def _rational(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = round((minutes_float - minutes) * 60 * 100)
    return ((degrees, 1), (minutes, 1), (seconds, 100))


def leaky_jpeg(rgb: np.ndarray | None = None, *, orientation: int = 6, lat: float = SITE[0],
               lng: float = SITE[1]) -> bytes:
    """A JPEG with GPS, owner and serial number in EXIF, an XMP packet and a comment."""
    image = Image.fromarray(rgb) if rgb is not None else Image.new("RGB", (320, 240), (90, 140, 200))
    exif = {
        "0th": {piexif.ImageIFD.Make: b"PhoneMaker", piexif.ImageIFD.Model: b"Model-X",
                piexif.ImageIFD.Artist: b"Jane Owner", piexif.ImageIFD.Orientation: orientation},
        "Exif": {piexif.ExifIFD.BodySerialNumber: b"SN-98765432", piexif.ExifIFD.CameraOwnerName: b"Jane Owner",
                 piexif.ExifIFD.DateTimeOriginal: b"2026:05:01 09:00:00"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _rational(lat),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _rational(lng)},
    }
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Xmp Secret Person'
           b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, exif=piexif.dump(exif), xmp=xmp, comment=b"taken at home")
    data = out.getvalue()
    assert all(secret in data for secret in SECRETS)
    return data


def scene(seed: int, litter: bool) -> np.ndarray:
    """A street corner, with or without litter scattered on the pavement."""
    rng = np.random.default_rng(7)
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[:120] = (150, 190, 230)
    rgb[120:] = (110, 110, 115)
    rgb[60:160, 40:120] = (180, 60, 50)
    rgb = np.clip(rgb.astype(int) + rng.integers(-6, 6, rgb.shape), 0, 255).astype(np.uint8)
    if litter:
        litter_rng = np.random.default_rng(seed)
        for _ in range(40):
            y, x = int(litter_rng.integers(130, 230)), int(litter_rng.integers(0, 300))
            rgb[y:y + 8, x:x + 14] = litter_rng.integers(0, 255, 3)
    return rgb


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class World:
    api: Api
    admin: str
    agent: str
    human: str
    mission: dict[str, Any]
    blobs: Path

    def register(self, *, key: str | None = None, data: bytes | None = None, content_type: str = "image/jpeg",
                 **fields: Any) -> Any:
        body: dict[str, Any] = {
            "mission_id": self.mission["id"], "sequence": "standalone", "content_type": content_type,
            "size_bytes": len(data) if data is not None else 1000,
            "captured_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "latitude": SITE[0], "longitude": SITE[1], **fields,
        }
        return self.api.post("/v1/evidence", key=key or self.human, body=body)

    def upload(self, registered: dict[str, Any], data: bytes, content_type: str | None = None) -> Any:
        ticket = registered["upload"]
        return self.api.put(path_of(ticket["url"]), raw=data,
                            headers={"Content-Type": content_type or ticket["headers"]["Content-Type"]})

    def submit(self, data: bytes, **fields: Any) -> dict[str, Any]:
        """Register and upload a photo; returns the registration."""
        registered = self.register(data=data, **fields)
        assert registered.status == 201, registered.body
        uploaded = self.upload(registered.data, data)
        assert uploaded.status == 200, uploaded.body
        return dict(registered.data)

    def evidence(self, evidence_id: str, key: str | None = None) -> dict[str, Any]:
        answer = self.api.get(f"/v1/evidence/{evidence_id}", key=key or self.human)
        assert answer.status == 200, answer.body
        return dict(answer.data)


def new_mission(api: Api, admin: str, agent: str, **template_changes: Any) -> dict[str, Any]:
    template = api.post("/v1/admin/mission-templates", key=admin, body={**TEMPLATE, **template_changes})
    assert template.status == 201, template.body
    mission = api.post("/v1/missions", key=agent, body={
        "template_id": template.data["id"], "location": {"latitude": SITE[0], "longitude": SITE[1]},
        "reward_millicredits": 5000})
    assert mission.status == 201, mission.body
    return dict(mission.data)


@pytest.fixture
def world(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from chalicelib.bootstrap import reset_blob_store
    from chalicelib.config import reset_settings

    blobs = tmp_path / "blobs"
    monkeypatch.setenv("BLOB_DIR", str(blobs))
    monkeypatch.setenv("EVIDENCE_UPLOADS_PER_HOUR", "100")
    reset_settings()
    reset_blob_store()
    with api_client() as api:
        admin = admin_key()
        agent, _ = api.register("mission-planner")
        human, _ = api.register("walker", kind="human")
        yield World(api=api, admin=admin, agent=agent, human=human, mission=new_mission(api, admin, agent),
                    blobs=blobs)
    reset_blob_store()


def raw_get(path: str) -> tuple[int, dict[str, str], bytes]:
    """A GET whose answer is not JSON (the local download route), accepting anything as curl does."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as client:
        response = client.http.get(path, headers={"Accept": "*/*"})
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.body
