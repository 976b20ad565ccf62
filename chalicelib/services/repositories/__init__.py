"""The repositories a unit of work offers, as the services see them.

Services know these protocols only; the PostgreSQL implementations live in `chalicelib/adapters/`
(one module per aggregate, named in each docstring) and are bound to the unit of work's transaction
by `adapters/postgres_uow.py`. The protocols are grouped by flow, one module each; this package
re-exports every one of them, so services import them from `chalicelib.services.repositories`.
A test (tests/unit/test_repository_ports.py) checks that every method here exists in its adapter
with the same parameters.
"""

from __future__ import annotations

from chalicelib.services.repositories.agents import (
    AdminActionsRepository,
    AgentsRepository,
    RateLimitsRepository,
    RegistrationsRepository,
)
from chalicelib.services.repositories.economy import (
    EconomyRepository,
    LedgerRepository,
)
from chalicelib.services.repositories.evaluations import (
    EvaluationsRepository,
    SpotChecksRepository,
    ValidatorsRepository,
)
from chalicelib.services.repositories.hyperlocal import (
    EvidenceRepository,
    HyperlocalRepository,
    SocksRepository,
)
from chalicelib.services.repositories.messaging import (
    OutboxRepository,
    ProcessedMessages,
)
from chalicelib.services.repositories.operations import (
    AlertsRepository,
    FlagsRepository,
    HealthRepository,
    OperationsRepository,
)
from chalicelib.services.repositories.privacy import (
    ConsentsRepository,
    PersonalDataRepository,
    PrivacyRepository,
    RetentionRepository,
)
from chalicelib.services.repositories.reporting import (
    ComplianceRepository,
    DeliveriesRepository,
    ExportJobsRepository,
    ExportsRepository,
    TrendsRepository,
)
from chalicelib.services.repositories.submissions import (
    LayerBRepository,
    ReviewRepository,
    SubmissionsRepository,
)

__all__ = [
    "AdminActionsRepository",
    "AgentsRepository",
    "AlertsRepository",
    "ComplianceRepository",
    "ConsentsRepository",
    "DeliveriesRepository",
    "EconomyRepository",
    "EvaluationsRepository",
    "EvidenceRepository",
    "ExportJobsRepository",
    "ExportsRepository",
    "FlagsRepository",
    "HealthRepository",
    "HyperlocalRepository",
    "LayerBRepository",
    "LedgerRepository",
    "OperationsRepository",
    "OutboxRepository",
    "PersonalDataRepository",
    "PrivacyRepository",
    "ProcessedMessages",
    "RateLimitsRepository",
    "RegistrationsRepository",
    "RetentionRepository",
    "ReviewRepository",
    "SocksRepository",
    "SpotChecksRepository",
    "SubmissionsRepository",
    "TrendsRepository",
    "ValidatorsRepository",
]
