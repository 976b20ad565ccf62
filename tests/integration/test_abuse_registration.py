"""Finding 2 (credit farm): every registration, whatever key it carries, counts against per-address and
per-owner limits; the starter grant is paid once per owner per window; role rules say who registers whom;
starter grants are watched by the economy health."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from chalicelib.bootstrap import unit_of_work
from chalicelib.domain.errors import Forbidden, RateLimited
from chalicelib.services import registration
from chalicelib.services.agents import authenticate, create_admin_key
from chalicelib.services.credits import verify_ledger
from tests.support import Api, admin_key, api_client


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def minted(db: str) -> tuple[int, int]:
    """(identities, credits paid as starter grants)."""
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM agents),"
            " coalesce((SELECT sum(starter_grant) FROM registrations), 0) / 1000").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def farm(api: Api) -> dict[int, int]:
    """The farm of the issue, from one address: 30 anonymous registrations, then 58 with one of the new
    keys, then 60 more with three other new keys (20 each). Returns the answers by status."""
    statuses: dict[int, int] = {}
    keys: list[str] = []

    def register(key: str | None) -> None:
        answer = api.post("/v1/agents", body={"name": f"farm-{sum(statuses.values())}"}, key=key)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        if answer.status == 201:
            keys.append(answer.data["api_key"])

    for _ in range(30):
        register(None)
    first = keys[0]
    for _ in range(58):
        register(first)
    for key in keys[1:4]:
        for _ in range(20):
            register(key)
    return statuses


def test_finding_2_credit_farm_replayed_from_one_address_mints_at_most_the_address_limit(api: Api, db: str) -> None:
    """Before: 118 identities and 5,900 credits in about a second. Keys no longer step around the
    per-address limit, and siblings of a key get no starter grant."""
    statuses = farm(api)
    identities, credits = minted(db)
    assert statuses == {201: 30, 429: 118}
    assert (identities, credits) == (30, 1500)
    assert verify_ledger(unit_of_work())["mismatches"] == []


@pytest.mark.parametrize("carrier", ["agent", "human", "admin"])
def test_finding_2_every_registration_counts_against_the_address_limit_whatever_key(
        api: Api, db: str, carrier: str) -> None:
    agent_key, _ = api.register("founder")
    human_key, _ = api.register("walker", kind="human")
    keys = {"agent": agent_key, "human": human_key, "admin": admin_key()}
    kind = "human" if carrier == "human" else "agent"
    for i in range(28):  # 30 per minute from one address: 2 used above
        assert api.post("/v1/agents", body={"name": f"anon-{i}"}).status == 201
    refused = api.post("/v1/agents", body={"name": "one-more", "kind": kind}, key=keys[carrier])
    assert refused.status == 429, refused.body
    assert refused.error["code"] == "RATE_LIMITED" and int(refused.headers["retry-after"]) >= 1
    assert refused.error["details"]["limit"] == "registrations_per_address_per_minute"


def test_finding_2_owner_limits_hold_whatever_the_addresses(db: str) -> None:
    """Ten per minute and twenty per day per owner, even from twenty different addresses."""
    admin = create_admin_key(unit_of_work())
    caller = authenticate(unit_of_work(), f"Bearer {admin}")
    owner = uuid4()
    now = datetime.now(UTC)

    def sibling(i: int, at: datetime) -> registration.Registration:
        return registration.register(unit_of_work(), kind="agent", name=f"s-{i}", description="", caller=caller,
                                     owner_id=owner, source_address=f"198.51.100.{i}", now=at)

    for i in range(10):
        sibling(i, now)
    with pytest.raises(RateLimited) as minute:
        sibling(10, now)
    assert minute.value.details["limit"] == "registrations_per_owner_per_minute"
    for i in range(10, 20):
        sibling(i, now + timedelta(minutes=2))
    with pytest.raises(RateLimited) as day:
        sibling(20, now + timedelta(minutes=5))
    assert day.value.details["limit"] == "registrations_per_owner_per_day"
    assert day.value.retry_after_s > 23 * 3600
    sibling(21, now + timedelta(days=1, minutes=1))  # the daily window rolled on


def test_finding_2_concurrent_siblings_cannot_race_past_the_owner_limit(db: str) -> None:
    admin = create_admin_key(unit_of_work())
    caller = authenticate(unit_of_work(), f"Bearer {admin}")
    owner = uuid4()
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        try:
            registration.register(unit_of_work(), kind="agent", name=f"racer-{i}", description="", caller=caller,
                                  owner_id=owner, source_address=f"203.0.113.{i}")
            result = "created"
        except RateLimited:
            result = "limited"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 10 and outcomes.count("limited") == 6


def test_finding_2_starter_grant_is_paid_once_per_owner_per_window(api: Api, db: str) -> None:
    key, first = api.register("first")
    assert api.get("/v1/credits", key=key).data["balance"]["millicredits"] == 50_000
    sibling_key, sibling = api.register("sibling", key=key)
    assert sibling["owner_id"] == first["owner_id"]
    assert api.get("/v1/credits", key=sibling_key).data["balance"]["millicredits"] == 0
    # A window later the owner's next identity is granted again.
    later = datetime.now(UTC) + timedelta(days=31)
    owner = UUID(first["owner_id"])
    caller = authenticate(unit_of_work(), f"Bearer {key}")
    again = registration.register(unit_of_work(), kind="agent", name="next-month", description="", caller=caller,
                                  source_address=None, now=later)
    assert again.starter_grant == 50_000 and again.agent["owner_id"] == owner
    assert verify_ledger(unit_of_work())["mismatches"] == []


@pytest.mark.parametrize(
    "case",
    [
        (None, "agent", False, 201), (None, "human", False, 201), (None, "agent", True, 403),
        ("agent", "agent", False, 201), ("agent", "human", False, 403), ("agent", "agent", True, 403),
        ("human", "human", False, 201), ("human", "agent", False, 403), ("human", "human", True, 403),
        ("admin", "agent", True, 201), ("admin", "human", True, 201), ("admin", "agent", False, 201),
    ],
)
def test_finding_2_role_rules_for_who_registers_whom(api: Api, db: str, case: tuple[str | None, str, bool, int]
                                                     ) -> None:
    carrier, kind, owner_id, status = case
    keys = {"agent": api.register("an-agent")[0], "human": api.register("a-human", kind="human")[0],
            "admin": admin_key(), None: None}
    body = {"name": "newcomer", "kind": kind}
    if owner_id:
        body["owner_id"] = "5b1f3a52-0d1e-4c55-9d7e-3f1c2b4a5d6e"
    answer = api.post("/v1/agents", body=body, key=keys[carrier])
    assert answer.status == status, answer.body
    if status == 403:
        assert answer.error["code"] == "FORBIDDEN"
    elif owner_id:
        assert answer.data["agent"]["owner_id"] == body["owner_id"]


def test_finding_2_a_refused_registration_writes_nothing(api: Api, db: str) -> None:
    human_key, _ = api.register("walker", kind="human")
    before = minted(db)
    assert api.post("/v1/agents", body={"name": "bot", "kind": "agent"}, key=human_key).status == 403
    assert minted(db) == before


def test_finding_2_a_spike_of_starter_grants_raises_an_economy_alert(db: str) -> None:
    from chalicelib.services import economy

    now = datetime.now(UTC)
    for i in range(21):  # 21 owners from 21 addresses: 1,050 credits of grants within the hour
        registration.register(unit_of_work(), kind="agent", name=f"new-{i}", description="", caller=None,
                              source_address=f"192.0.2.{i}", now=now)
    with unit_of_work() as uow:
        report = economy.economy_health(uow, window_start=now - timedelta(hours=1),
                                        window_end=now + timedelta(seconds=1))
    assert report.figures.starter_grants == 21 * 50_000
    assert "economy_starter_grant_spike" in [a.rule for a in report.alerts]
    with unit_of_work() as uow:
        quiet = economy.economy_health(uow, window_start=now + timedelta(hours=1),
                                       window_end=now + timedelta(hours=2))
    assert "economy_starter_grant_spike" not in [a.rule for a in quiet.alerts]


def test_finding_2_role_rules_hold_inside_the_service_too(db: str) -> None:
    with pytest.raises(Forbidden):
        registration.register(unit_of_work(), kind="agent", name="x", description="", caller=None, owner_id=uuid4(),
                              source_address=None)
