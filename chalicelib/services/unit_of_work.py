"""The unit of work: one transaction, the repositories bound to it, and the messages it enqueued.

Every use case takes a unit of work and runs its writes inside ``with uow:``::

    with uow:
        row = uow.submissions.insert(values)
        uow.outbox.enqueue("guardrail", {"submission_id": str(row["id"])})
        uow.commit()

The block commits when it ends without an exception (``commit()`` commits at that point
explicitly) and rolls back on any exception. Outbox messages enqueued through ``uow.outbox`` are
collected and, once their transaction has committed, handed to the relay the composition root
(`chalicelib/bootstrap.py`) configured, so that they leave at once; the outbox sweeper is the
safety net. A unit of work may be entered again after it ended (a new transaction), never inside
itself. Services never import the database or an adapter: they see only these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol, Self

from chalicelib.domain.outbox import OutboxMessage
from chalicelib.services.ports import Clock, FieldCipher
from chalicelib.services.repositories import (
    AdminActionsRepository,
    AgentsRepository,
    AlertsRepository,
    ComplianceRepository,
    ConsentsRepository,
    DeliveriesRepository,
    EconomyRepository,
    EvaluationsRepository,
    EvidenceRepository,
    ExportJobsRepository,
    ExportsRepository,
    FlagsRepository,
    HealthRepository,
    HyperlocalRepository,
    LayerBRepository,
    LedgerRepository,
    OperationsRepository,
    OutboxRepository,
    PersonalDataRepository,
    PrivacyRepository,
    ProcessedMessages,
    RateLimitsRepository,
    RegistrationsRepository,
    RetentionRepository,
    ReviewRepository,
    SocksRepository,
    SpotChecksRepository,
    SubmissionsRepository,
    TrendsRepository,
    ValidatorsRepository,
)


class UnitOfWork(Protocol):
    """One transaction and the repositories bound to it."""

    admin_actions: AdminActionsRepository
    agents: AgentsRepository
    alerts: AlertsRepository
    compliance: ComplianceRepository
    consents: ConsentsRepository
    deliveries: DeliveriesRepository
    economy: EconomyRepository
    evaluations: EvaluationsRepository
    evidence: EvidenceRepository
    exports: ExportsRepository
    export_jobs: ExportJobsRepository
    flags: FlagsRepository
    health: HealthRepository
    hyperlocal: HyperlocalRepository
    processed: ProcessedMessages
    layer_b: LayerBRepository
    ledger: LedgerRepository
    operations: OperationsRepository
    outbox: OutboxRepository
    personal_data: PersonalDataRepository
    privacy: PrivacyRepository
    rate_limits: RateLimitsRepository
    registrations: RegistrationsRepository
    retention: RetentionRepository
    review: ReviewRepository
    socks: SocksRepository
    spot_checks: SpotChecksRepository
    submissions: SubmissionsRepository
    trends: TrendsRepository
    validators: ValidatorsRepository

    @property
    def clock(self) -> Clock:
        """The clock of the use cases run on this unit of work (bootstrap picks it)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def cipher(self) -> FieldCipher:
        """The envelope encryption of personal columns (built on first use; usable outside the block)."""

    def commit(self) -> None:
        """Commit now and relay the messages this transaction enqueued."""

    def rollback(self) -> None:
        """Undo everything since the transaction began; enqueued messages are dropped."""

    def repeatable_read(self) -> None:
        """Read one consistent snapshot for the rest of this transaction (before its first statement)."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested block whose exception undoes only what it did (the exception still propagates)."""

    def collect_new_messages(self) -> list[int]:
        """Ids of the outbox messages committed by this unit of work and not yet collected."""


UnitOfWorkFactory = Callable[[], UnitOfWork]


class UniqueViolation(Exception):
    """A write broke a unique key (a concurrent duplicate won the race): raised as the block ends."""


class MessageSender(Protocol):
    """Where relayed outbox messages go: SQS in AWS, the in-process dispatcher locally."""

    def send(self, messages: Sequence[OutboxMessage]) -> set[int]:
        """Deliver messages; return the ids that failed (they are retried later)."""
