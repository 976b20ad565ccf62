"""Use cases of keeping the house: database reachability and purging spent rate-limit windows."""

from __future__ import annotations

from chalicelib.services.unit_of_work import UnitOfWork


def database_reachable(uow: UnitOfWork) -> None:
    """A round trip to the database in its own transaction; raises when it cannot be made."""
    with uow:
        uow.health.ping()


def purge_rate_limit_windows(uow: UnitOfWork) -> int:
    """Forget rate-limit windows older than a day; returns how many went."""
    with uow:
        return uow.rate_limits.purge_old()
