"""A photo whose file misses its last bytes goes through the stage: published and marked when every
pixel is in the file, kept in quarantine with its reason when it is not."""

from __future__ import annotations

from uuid import UUID

import psycopg

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
