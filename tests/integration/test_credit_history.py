"""An agent's credit history shows every movement, hardship waivers included, page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_economy import SUBMISSION, bring_balance_to, set_flags
from tests.support import Api, api_client


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def all_lines(api: Api, key: str, limit: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = f"/v1/credits?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = api.get(path, key=key)
        assert answer.status == 200, answer.body
        lines += answer.data["history"]
        cursor = answer.data["next_cursor"]
        if cursor is None:
            return lines


def test_hardship_waivers_are_lines_of_the_history_and_paging_walks_every_line(api: Api, db: str) -> None:
    set_flags(SUBMISSION_COSTS_ENABLED=True)
    key, agent = api.register("poor-but-busy")
    other_key, other = api.register("poor-neighbour")
    bring_balance_to(agent["id"], 9_000)
    bring_balance_to(other["id"], 9_000)
    for n in range(3):
        created = api.post("/v1/submissions", key=key, body={**SUBMISSION, "title": f"Garden water {n}"})
        assert created.status == 201 and created.data["cost"]["millicredits"] == 0
    api.post("/v1/submissions", key=other_key, body={**SUBMISSION, "title": "Someone else's"})

    everything = all_lines(api, key, limit=100)
    waivers = [line for line in everything if line["kind"] == "hardship_waiver"]
    assert len(waivers) == 3
    for line in waivers:
        assert line["amount"]["millicredits"] == 0
        assert line["balance_before"]["millicredits"] == line["balance_after"]["millicredits"] == 9_000
        assert line["reference"].startswith("submission:")
        assert line["memo"]["waived"] == 2_000
    assert {line["kind"] for line in everything} >= {"starter_grant", "hardship_waiver"}

    one_by_one = all_lines(api, key, limit=1)
    assert [line["id"] for line in one_by_one] == [line["id"] for line in everything]
    assert len({line["id"] for line in one_by_one}) == len(one_by_one)
    order = [(line["created_at"], line["id"]) for line in everything]
    assert order == sorted(order, reverse=True)
