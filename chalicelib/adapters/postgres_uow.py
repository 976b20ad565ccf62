"""The PostgreSQL unit of work: one pooled connection, one transaction, the repositories bound to it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType, TracebackType
from typing import Any, Self, cast

import psycopg

from chalicelib.adapters import (
    admin_actions_repo,
    agents_repo,
    alerts_repo,
    compliance_repo,
    consents_repo,
    deliveries_repo,
    economy_repo,
    evaluations_repo,
    evidence_repo,
    export_jobs_repo,
    exports_repo,
    flags_repo,
    health_repo,
    hyperlocal_repo,
    idempotency,
    layer_b_repo,
    ledger_repo,
    operations_repo,
    outbox,
    personal_data_repo,
    privacy_repo,
    rate_limits,
    registrations_repo,
    retention_repo,
    review_repo,
    socks_repo,
    spot_checks_repo,
    submissions_repo,
    trends_repo,
    validators_repo,
)
from chalicelib.adapters.clock import SystemClock
from chalicelib.db import pool
from chalicelib.services import repositories as ports
from chalicelib.services.ports import Clock, FieldCipher
from chalicelib.services.unit_of_work import UniqueViolation

Relay = Callable[[Sequence[int]], None]


class _Bound:
    """A repository module with its functions bound to one connection (`repo.get(x)` = `module.get(conn, x)`)."""

    def __init__(self, module: ModuleType, conn: pool.Connection) -> None:
        self._module = module
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        function = getattr(self._module, name)
        bound = functools.partial(function, self._conn)
        setattr(self, name, bound)  # bind once per transaction
        return bound


class _CollectingOutbox(_Bound):
    """The outbox repository, remembering what this transaction enqueued."""

    def __init__(self, conn: pool.Connection, collected: list[int]) -> None:
        super().__init__(outbox, conn)
        self._collected = collected

    def enqueue(self, topic: str, payload: dict[str, Any], *, correlation_id: str | None = None,
                delay_seconds: int = 0) -> int:
        message_id = outbox.enqueue(self._conn, topic, payload, correlation_id=correlation_id,
                                    delay_seconds=delay_seconds)
        self._collected.append(message_id)
        return message_id


class PostgresUnitOfWork:
    """`with uow:` borrows a pooled connection and opens a transaction; the block's end commits it
    (or rolls it back on an exception) and returns the connection. Committed outbox messages are
    handed to `relay` (best effort: the sweeper sends whatever it misses)."""

    admin_actions: ports.AdminActionsRepository
    agents: ports.AgentsRepository
    alerts: ports.AlertsRepository
    compliance: ports.ComplianceRepository
    consents: ports.ConsentsRepository
    deliveries: ports.DeliveriesRepository
    economy: ports.EconomyRepository
    evaluations: ports.EvaluationsRepository
    evidence: ports.EvidenceRepository
    exports: ports.ExportsRepository
    export_jobs: ports.ExportJobsRepository
    flags: ports.FlagsRepository
    health: ports.HealthRepository
    hyperlocal: ports.HyperlocalRepository
    processed: ports.ProcessedMessages
    layer_b: ports.LayerBRepository
    ledger: ports.LedgerRepository
    operations: ports.OperationsRepository
    outbox: ports.OutboxRepository
    personal_data: ports.PersonalDataRepository
    privacy: ports.PrivacyRepository
    rate_limits: ports.RateLimitsRepository
    registrations: ports.RegistrationsRepository
    retention: ports.RetentionRepository
    review: ports.ReviewRepository
    socks: ports.SocksRepository
    spot_checks: ports.SpotChecksRepository
    submissions: ports.SubmissionsRepository
    trends: ports.TrendsRepository
    validators: ports.ValidatorsRepository

    def __init__(
        self, relay: Relay | None = None, clock: Clock | None = None, cipher: Callable[[], FieldCipher] | None = None
    ) -> None:
        self._relay = relay
        self.clock: Clock = clock or SystemClock()
        self._cipher = cipher
        self._borrowed: AbstractContextManager[pool.Connection] | None = None
        self._conn: pool.Connection | None = None
        self._enqueued: list[int] = []
        self._committed: list[int] = []

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("a unit of work cannot be entered inside itself")
        self._borrowed = pool.connection()  # the request's short wait in the API
        conn = self._borrowed.__enter__()
        self._conn = conn
        self._enqueued = []
        for name, module in _REPOSITORIES.items():
            setattr(self, name, _Bound(module, conn))
        self.outbox = cast(ports.OutboxRepository, _CollectingOutbox(conn, self._enqueued))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        borrowed, self._borrowed = self._borrowed, None
        try:
            if exc_type is None:
                self._commit_transaction()
            else:
                self.rollback()
        finally:
            self._conn = None
            if borrowed is not None:
                borrowed.__exit__(exc_type, exc, tb)
        pool.after_transaction()
        if exc_type is None:
            self._relay_committed()
        elif isinstance(exc, psycopg.errors.UniqueViolation):
            raise UniqueViolation(str(exc)) from exc

    def cipher(self) -> FieldCipher:
        if self._cipher is None:
            raise RuntimeError("this unit of work was built without a cipher (bootstrap.unit_of_work() has one)")
        return self._cipher()

    def commit(self) -> None:
        self._commit_transaction()
        self._relay_committed()

    def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
        self._enqueued.clear()

    def repeatable_read(self) -> None:
        if self._conn is None:
            raise RuntimeError("repeatable_read outside `with uow:`")
        self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        if self._conn is None:
            raise RuntimeError("savepoint outside `with uow:`")
        mark = len(self._enqueued)
        self._conn.execute("SAVEPOINT uow_savepoint")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO SAVEPOINT uow_savepoint")
            del self._enqueued[mark:]
            raise
        self._conn.execute("RELEASE SAVEPOINT uow_savepoint")

    def collect_new_messages(self) -> list[int]:
        collected, self._committed = self._committed, []
        return collected

    def _commit_transaction(self) -> None:
        if self._conn is None:
            raise RuntimeError("commit outside `with uow:`")
        self._conn.commit()
        self._committed.extend(self._enqueued)
        self._enqueued.clear()

    def _relay_committed(self) -> None:
        ids = self.collect_new_messages()
        if ids and self._relay is not None:
            self._relay(ids)


_REPOSITORIES: dict[str, ModuleType] = {
    "admin_actions": admin_actions_repo,
    "deliveries": deliveries_repo,
    "agents": agents_repo,
    "alerts": alerts_repo,
    "compliance": compliance_repo,
    "consents": consents_repo,
    "economy": economy_repo,
    "evaluations": evaluations_repo,
    "evidence": evidence_repo,
    "exports": exports_repo,
    "export_jobs": export_jobs_repo,
    "flags": flags_repo,
    "health": health_repo,
    "hyperlocal": hyperlocal_repo,
    "processed": idempotency,
    "layer_b": layer_b_repo,
    "ledger": ledger_repo,
    "operations": operations_repo,
    "personal_data": personal_data_repo,
    "privacy": privacy_repo,
    "rate_limits": rate_limits,
    "registrations": registrations_repo,
    "retention": retention_repo,
    "review": review_repo,
    "socks": socks_repo,
    "spot_checks": spot_checks_repo,
    "submissions": submissions_repo,
    "trends": trends_repo,
    "validators": validators_repo,
}
