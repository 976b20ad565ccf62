"""Every metric the service emits, defined once: name, unit, dimensions, meaning and its dashboards.

Code emits through `observability.emit` (or `metrics.add_metric`, which checks the name here); the
CloudWatch dashboards in infra/dashboards chart these names, and a test keeps the three in step: each
emitted name is catalogued, each catalogued name is emitted somewhere and drawn on a dashboard.
Pure data: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dashboard = Literal["production-shift", "validators", "economy", "system-health"]
DASHBOARDS: tuple[Dashboard, ...] = ("production-shift", "validators", "economy", "system-health")
Unit = Literal["Count", "Milliseconds", "Seconds", "Percent", "None"]


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: Unit
    description: str
    dashboards: tuple[Dashboard, ...]
    dimensions: tuple[str, ...] = ()  # besides `service`, which every metric carries


def _m(name: str, unit: Unit, description: str, *dashboards: Dashboard, dims: tuple[str, ...] = ()) -> MetricDef:
    return MetricDef(name, unit, description, tuple(dashboards), dims)


_DEFINITIONS: tuple[MetricDef, ...] = (
    # --- the production shift: content in, decisions out -------------------------------------------
    _m("Submissions", "Count", "content accepted for screening (Layer A blocks included)", "production-shift",
       dims=("Kind",)),
    _m("Decisions", "Count", "submissions reaching a terminal status, by the path that decided",
       "production-shift", dims=("Path",)),
    _m("PeerRoutings", "Count", "submissions routed to peers (live or shadow): the base of insufficient validators",
       "production-shift", "validators"),
    _m("PeerValidationEnabled", "None", "1 while PEER_VALIDATION_ENABLED is on, else 0", "production-shift",
       "validators"),
    _m("RoutingErrors", "Count", "routing failures (the submission went to Layer B)", "production-shift"),
    _m("ConsensusDecisions", "Count", "consensus rounds closed (live and shadow)", "production-shift", "validators"),
    _m("PeerDecisions", "Count", "consensus rounds whose peer outcome was applied", "production-shift"),
    _m("PeerFallbacks", "Count", "consensus rounds that fell back to the stored Layer B decision",
       "production-shift"),
    _m("ShadowConsensus", "Count", "shadow-mode consensus rounds (Layer B decided)", "production-shift"),
    _m("QuorumFailures", "Count", "consensus rounds closed by quorum timeout", "production-shift", "validators"),
    _m("ConsensusLatencyMs", "Milliseconds", "quorum-completing answer to applied decision", "production-shift",
       "validators"),
    _m("SpotChecks", "Count", "spot checks completed", "production-shift"),
    _m("SpotCheckDisagreements", "Count", "spot checks where Layer B disagreed with the peers",
       "production-shift"),
    _m("SpotCheckFailures", "Count", "spot checks that could not be classified", "production-shift"),
    _m("SpotCheckBatches", "Count", "Layer B batches submitted for spot checks", "production-shift"),
    _m("SpotCheckBatchFailures", "Count", "Layer B batches that failed to submit", "production-shift"),
    _m("LayerBCalls", "Count", "Layer B classifications applied by the guardrail stage", "production-shift"),
    _m("LayerBTokens", "Count", "Layer B tokens (input + output) of real calls", "production-shift"),
    _m("LayerBCostMicroUsd", "Count", "Layer B cost in micro-dollars", "production-shift"),
    _m("LayerBCacheHits", "Count", "Layer B classifications answered from the cache", "production-shift"),
    _m("LayerBBudgetExhausted", "Count", "classifications refused by the daily budget (human review)",
       "production-shift"),
    _m("LayerBBudgetUsedPct", "Percent", "share of today's Layer B budget spent", "production-shift"),
    _m("ReviewActions", "Count", "human review queue transitions", "production-shift"),
    _m("FlagChanges", "Count", "feature flag changes", "production-shift"),
    _m("Rollbacks", "Count", "peer traffic rollbacks", "production-shift"),
    # --- hyperlocal and privacy ---------------------------------------------------------------------
    _m("EvidenceRegistered", "Count", "photo uploads announced", "production-shift"),
    _m("PrivacyReady", "Count", "photos processed (metadata stripped, faces/plates blurred)", "production-shift"),
    _m("PrivacyRejected", "Count", "photos quarantined by the privacy stage", "production-shift"),
    _m("PrivacyRegionsBlurred", "Count", "face and plate regions blurred", "production-shift"),
    _m("PrivacyPhotosSentAgain", "Count", "photos past their privacy lease sent through the stage again",
       "system-health"),
    _m("PrivacyPhotosTimedOut", "Count", "photos rejected after the privacy stage never finished them",
       "system-health"),
    _m("PrivacyLatePhotos", "Count", "photos waiting for the privacy stage past its lease and one sweep",
       "system-health"),
    _m("PairsApproved", "Count", "before/after pairs verified as improved", "production-shift"),
    _m("PairsRejected", "Count", "before/after pairs verified as not improved", "production-shift"),
    _m("PairsPeerReview", "Count", "before/after pairs left to peer review", "production-shift"),
    _m("Attestations", "Count", "attestations recorded", "production-shift"),
    # --- validators ---------------------------------------------------------------------------------
    _m("EvaluationsAssigned", "Count", "evaluations asked of validators", "validators"),
    _m("EvaluationsAnswered", "Count", "evaluations answered in time", "validators"),
    _m("InsufficientValidators", "Count", "peer-routed submissions with fewer eligible validators than quorum",
       "validators"),
    _m("ValidatorTierChanges", "Count", "validator promotions and demotions", "validators"),
    _m("ValidatorPoolSize", "Count", "active (not suspended) validators", "validators"),
    _m("PendingEvaluationOldestAgeSeconds", "Seconds", "age of the oldest pending evaluation", "validators",
       "system-health"),
    # --- economy ------------------------------------------------------------------------------------
    _m("CreditsFaucet", "Count", "millicredits paid out of the faucet, by entry kind", "economy", dims=("Kind",)),
    _m("CreditsSink", "Count", "millicredits paid into the sink, by entry kind", "economy", dims=("Kind",)),
    _m("EconomyRatio", "None", "faucet / sink of the latest hourly snapshot", "economy"),
    _m("HardshipRatePct", "Percent", "agents below the hardship balance, latest snapshot", "economy"),
    _m("Registrations", "Count", "identities registered, by kind (their starter grants: CreditsFaucet)", "economy",
       dims=("Kind",)),
    # --- system health ------------------------------------------------------------------------------
    _m("WorkerRecordFailures", "Count", "SQS records a worker failed (retried, then dead-lettered)",
       "system-health"),
    _m("PartnerDeliveryAttempts", "Count", "attempts of partner delivery runs, by outcome", "system-health",
       dims=("Outcome",)),
    _m("OutboxOldestAgeSeconds", "Seconds", "age of the oldest unsent outbox message", "system-health"),
    _m("OutboxDeadMessages", "Count", "outbox messages parked after their last attempt", "system-health"),
    _m("DbPoolUsedPct", "Percent", "connections in use of the pool's maximum (this process)", "system-health"),
    _m("DbConnectionsUsedPct", "Percent", "server connections in use of max_connections", "system-health"),
    _m("DatabaseUnavailable", "Count", "requests answered 503 because no database connection came in time",
       "system-health"),
    _m("SlowQueries", "Count", "statements slower than the slow-query threshold", "system-health"),
    _m("SlowQueryMs", "Milliseconds", "duration of each slow statement", "system-health"),
    _m("AlertsRaised", "Count", "new alerts, by severity", "system-health", dims=("Severity",)),
    _m("AlertEscalations", "Count", "alerts escalated for lack of acknowledgement", "system-health"),
    _m("PrivacyRequestsCompleted", "Count", "data-subject requests (exports, erasures) completed", "system-health"),
    _m("PrivacyRequestsFailed", "Count", "data-subject requests that failed for good", "system-health"),
    _m("RetentionRowsHandled", "Count", "rows anonymised or deleted by the retention run", "system-health"),
    _m("AlertDeliveryFailures", "Count", "alert notifications a channel refused after its retries",
       "system-health"),
    _m("OpenAlerts", "Count", "alerts open or acknowledged", "system-health"),
    _m("ScheduledJobFailures", "Count", "scheduled job runs that raised", "system-health", dims=("Job",)),
)

CATALOGUE: dict[str, MetricDef] = {m.name: m for m in _DEFINITIONS}
assert len(CATALOGUE) == len(_DEFINITIONS), "a metric is defined twice"


def on_dashboard(dashboard: Dashboard) -> list[MetricDef]:
    """The metrics a dashboard must chart."""
    return [m for m in _DEFINITIONS if dashboard in m.dashboards]
