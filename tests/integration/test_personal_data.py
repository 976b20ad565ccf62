"""Personal data at rest: the author's original text survives masking, encrypted; only its author and
admins read it; everyone else (validators, Layer B, the trail) gets the masked text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support import Api, admin_key, api_client

PHONE = "+44 20 7946 0958"
EMAIL = "ana.perez@example.org"
SUBMISSION = {
    "kind": "problem",
    "title": f"Broken water pump, call {PHONE}",
    "body": f"The pump on Elm Street failed on 2024-01-15 10:30. Write to {EMAIL} to help repair it.",
    "domain": "clean_water_sanitation",
}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def rows(db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_original_is_kept_encrypted_and_only_its_author_and_admins_read_it(api: Api, db: str) -> None:
    key, _ = api.register("pump-watch")
    created = api.post("/v1/submissions", key=key, body=SUBMISSION)
    assert created.status == 201, created.body
    sub_id = created.data["id"]
    assert created.data["title"] == "Broken water pump, call [PHONE]"
    assert created.data["body"] == ("The pump on Elm Street failed on 2024-01-15 10:30. "
                                    "Write to [EMAIL] to help repair it.")

    mine = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert mine["original"]["title"] == SUBMISSION["title"]
    assert mine["original"]["body"] == SUBMISSION["body"]
    kinds = [(m["field"], m["kind"]) for m in mine["original"]["masked"]]
    assert kinds == [("title", "phone"), ("body", "email")]
    phone = mine["original"]["masked"][0]
    assert SUBMISSION["title"][phone["start"]:phone["end"]] == PHONE
    assert api.get(f"/v1/submissions/{sub_id}", key=admin_key()).data["original"]["body"] == SUBMISSION["body"]

    # The decision trail says what was masked, by kind and position, never the value.
    layer_a = next(t for t in mine["trail"] if t["stage"] == "layer_a")["verdict"]
    assert [(m["field"], m["kind"]) for m in layer_a["masked"]] == kinds
    assert PHONE not in str(layer_a) and EMAIL not in str(layer_a)

    other, _ = api.register("someone-else")
    assert api.get(f"/v1/submissions/{sub_id}", key=other).status == 404

    # At rest: no plaintext anywhere in the database.
    dump = "\n".join(str(r) for r in rows(db, "SELECT s.*, o.*, t.verdict FROM submissions s"
                                              " JOIN submission_originals o ON o.submission_id = s.id"
                                              " JOIN decision_trail t ON t.submission_id = s.id"))
    assert PHONE not in dump and EMAIL not in dump and "ana.perez" not in dump


def test_nothing_is_kept_apart_when_nothing_was_masked(api: Api, db: str) -> None:
    key, _ = api.register("plain")
    created = api.post("/v1/submissions", key=key, body={**SUBMISSION, "title": "Broken pump",
                                                          "body": "The pump on Elm Street is broken since 2024-01-15."})
    assert api.get(f"/v1/submissions/{created.data['id']}", key=key).data["original"] is None
    assert rows(db, "SELECT count(*) FROM submission_originals") == [(0,)]
