"""Queries rewritten for volume (docs/scaling.md, "Growth") keep their meaning.

The response rate reads only a validator's last closed evaluations through the index instead of
its whole history; it must still be answered / (answered + expired) over exactly the last window,
cancelled ones ignored, whatever the order the rows were written in and however often an id is named.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from uuid import UUID

from chalicelib.adapters import validators_repo
from chalicelib.adapters.validators_repo import RESPONSE_WINDOW
from tests.integration.peer_support import PeerWorld, rows, world_fixture  # noqa: F401 - the `world` fixture


def test_response_rate_counts_exactly_the_last_window_of_closed_evaluations(world: PeerWorld) -> None:
    from chalicelib.db.pool import transaction

    [v] = world.add_validators(1)
    # Oldest first: 40 answered (outside the window), then the window: 70 % answered, 30 % expired;
    # cancelled ones in between never count. Inserted in a shuffled order.
    answered_in_window = RESPONSE_WINDOW * 7 // 10
    window = ["answered"] * answered_in_window + ["expired"] * (RESPONSE_WINDOW - answered_in_window)
    random.Random(15).shuffle(window)
    closed = ["answered"] * 40 + window
    statuses = list(enumerate(closed)) + [(i, "cancelled") for i in range(0, len(closed), 3)]
    random.Random(7).shuffle(statuses)
    with transaction() as conn:
        for minute, status in statuses:
            sub = conn.execute(
                "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by,"
                " decided_at) VALUES (gen_random_uuid(), %s, 'problem', 't', 'b', 'h', 'approved', 'peer', now())"
                " RETURNING id", (UUID(world.submitter_id),)).fetchone()
            assert sub is not None
            conn.execute(
                "INSERT INTO consensus_decisions (submission_id, mode, layer_b_decision, layer_b_valid, assigned,"
                " opened_at, expires_at) VALUES (%s, 'live', 'approved', true, 3, now(), now())", (sub["id"],))
            answered = status == "answered"
            conn.execute(
                "INSERT INTO evaluations (submission_id, validator_id, mode, tier_at_assignment, status,"
                " assigned_at, expires_at, decision, confidence, safety_flagged, responded_at, closed_at)"
                " VALUES (%s, %s, 'live', 'apprentice', %s, now(), now(), %s, %s, %s, %s,"
                " now() - make_interval(hours => 1000) + make_interval(mins => %s))",
                (sub["id"], UUID(v.id), status, "approve" if answered else None, 1 if answered else None,
                 False if answered else None, datetime.now(UTC) if answered else None, minute))
        validators_repo.refresh_response_rates(conn, [UUID(v.id), UUID(v.id)])
    [(rate,)] = rows(world.db, "SELECT response_rate FROM validators WHERE agent_id = %s", UUID(v.id))
    expected = window.count("answered") / RESPONSE_WINDOW
    assert rate is not None and abs(rate - expected) < 1e-9
