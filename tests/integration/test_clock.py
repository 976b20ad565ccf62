"""Use cases read the time from the clock bootstrap installs (`uow.clock`): a test pins it and
moves it, with no monkeypatching and no SQL that ages rows."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from chalicelib import bootstrap
from chalicelib.services import validators
from tests.fakes.clock import PinnedClock
from tests.integration.peer_support import PeerWorld, world_fixture  # noqa: F401 - the `world` fixture


@pytest.fixture
def pin() -> Iterator[Callable[[], PinnedClock]]:
    """Pins the clock at the moment it is called (after the rows the database timestamps itself)."""

    def pinned() -> PinnedClock:
        clock = PinnedClock()
        bootstrap.install_clock(clock)
        return clock

    yield pinned
    bootstrap.install_clock(None)


def test_an_evaluation_expires_when_the_clock_passes_its_deadline(
    world: PeerWorld, pin: Callable[[], PinnedClock]
) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit()
    clock = pin()
    (first, first_id), (second, second_id) = world.assignments(sub_id)[:2]
    deadline = datetime.fromisoformat(next(e["expires_at"] for e in world.pending(second) if e["id"] == second_id))

    clock.at = deadline - timedelta(seconds=1)
    assert world.answer(first, first_id).status == 200
    clock.at = deadline
    assert [e for e in world.pending(second) if e["id"] == second_id] == []
    late = world.answer(second, second_id)
    assert late.status == 410 and late.error["details"]["status"] == "expired"


def test_a_suspension_ends_when_the_clock_passes_until(world: PeerWorld, pin: Callable[[], PinnedClock]) -> None:
    (member,) = world.add_validators(1)
    clock = pin()
    agent_id = UUID(member.id)
    stats = validators.set_suspension(bootstrap.unit_of_work(), agent_id, suspended=True, reason="spot checks",
                                      until=clock.now() + timedelta(hours=1), actor="test")
    assert stats["suspended"] is True
    clock.advance(minutes=59)
    assert validators.validator_stats(bootstrap.unit_of_work(), agent_id)["suspended"] is True
    clock.advance(minutes=2)
    assert validators.validator_stats(bootstrap.unit_of_work(), agent_id)["suspended"] is False


def test_no_use_case_reads_the_system_clock_itself() -> None:
    services = Path(inspect.getfile(validators)).parent
    direct = re.compile(r"\b(datetime|date)\.(now|today|utcnow)\(|\btime\.time\(")
    offenders = [f"{path.name}:{number}" for path in sorted(services.rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if direct.search(line)]
    assert offenders == []
