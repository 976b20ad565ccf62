"""A photo whose file misses its last bytes goes through the stage: published and marked when every
pixel is in the file, kept in quarantine with its reason when it is not. A batch of photos in one
invocation shares the loaded face model."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.integration.evidence_support import World, leaky_jpeg, scene, world
from tests.support import drain_outbox

__all__ = ["world"]


def test_a_jpeg_missing_its_end_marker_is_published_and_marked(world: World, db: str) -> None:
    data = leaky_jpeg(scene(5, litter=True))[:-2]
    evidence_id = world.submit(data)["evidence"]["id"]
    drain_outbox()
    ready = world.evidence(evidence_id)
    assert ready["status"] == "ready" and ready["privacy"]["recovered_truncated"] is True
    with psycopg.connect(db) as conn:
        found = conn.execute("SELECT recovered_truncated FROM evidence WHERE id = %s", (UUID(evidence_id),)).fetchone()
    assert found == (True,)

    whole_id = world.submit(leaky_jpeg(scene(5, litter=True)))["evidence"]["id"]
    drain_outbox()
    assert world.evidence(whole_id)["privacy"]["recovered_truncated"] is False


def test_a_jpeg_cut_inside_its_picture_stays_quarantined_with_its_reason(world: World) -> None:
    data = leaky_jpeg(scene(6, litter=True))
    evidence_id = world.submit(data[:len(data) * 3 // 4])["evidence"]["id"]
    drain_outbox()
    refused = world.evidence(evidence_id)
    assert refused["status"] == "rejected" and refused["download"] is None
    assert refused["rejection"]["code"] == "truncated"
    assert (world.blobs / "quarantine" / evidence_id).exists()  # kept for an operator's retry


def test_a_batch_of_ten_photos_in_one_invocation_loads_the_face_model_once(
    world: World, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2

    from functions.privacy import faces

    faces.forget_model()
    reads: list[int] = []
    nets: list[int] = []
    real_read, real_net = Path.read_bytes, cv2.dnn.readNetFromONNX

    def counting_read(path: Path) -> bytes:
        if path.name == faces.MODEL_FILE:
            reads.append(1)
        return real_read(path)

    def counting_net(*args: Any) -> Any:
        nets.append(1)
        return real_net(*args)

    monkeypatch.setattr(Path, "read_bytes", counting_read)
    monkeypatch.setattr(cv2.dnn, "readNetFromONNX", counting_net)
    ids = [world.submit(leaky_jpeg(scene(seed, litter=True), orientation=1))["evidence"]["id"] for seed in range(10)]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone() == (10,)
    assert drain_outbox() == 10  # the local relay hands SQS-sized batches of 10 to one handler call
    assert all(world.evidence(i)["status"] == "ready" for i in ids)
    assert len(reads) == 1 and len(nets) == len(faces.loaded_shapes()) == 1
