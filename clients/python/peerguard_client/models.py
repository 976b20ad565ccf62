"""Models of the peerguard API, generated from its OpenAPI document. Do not edit by hand.

Regenerate: python -m peerguard_client._codegen URL_OF_OPENAPI_JSON > peerguard_client/models.py
"""
# API version 1.1.0

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    """Unknown fields are kept (the API adds fields within a major version)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AckBody(ApiModel):
    note: str | None = None


class ActionBody(ApiModel):
    reason: str


class AdminActionOut(ApiModel):
    id: int
    actor: str
    action: str
    subject_type: str
    subject_id: str
    reason: str
    details: dict[str, Any]
    created_at: _dt.datetime


class AgentActionResult(ApiModel):
    agent: AgentStatusOut
    action: AdminActionOut


class AgentOut(ApiModel):
    id: UUID
    kind: str
    name: str
    description: str
    owner_id: UUID
    status: str
    trust_tier: Literal['new', 'verified']
    approvals: int
    created_at: _dt.datetime
    balance: Amount | None = None


class AgentRecord(ApiModel):
    agent: AgentStatusOut
    keys: list[KeyOut]
    actions: list[AdminActionOut]


class AgentRegistered(ApiModel):
    agent: AgentOut
    api_key: str
    note: str = 'Store this key now: it is shown once and stored only as a hash.'


class AgentStatusOut(ApiModel):
    id: UUID
    kind: str
    name: str
    owner_id: UUID
    status: str
    suspended_at: _dt.datetime | None
    suspension_reason: str | None


class AggregateOut(ApiModel):
    day: _dt.date
    figures: int


class AlertCounts(ApiModel):
    open: int
    acknowledged: int
    critical: int
    warning: int


class AlertDetailOut(ApiModel):
    id: UUID
    rule: str
    severity: Literal['warning', 'critical']
    tier: int
    title: str
    details: dict[str, Any]
    status: Literal['open', 'acknowledged', 'resolved']
    occurrences: int
    dedup_key: str | None
    created_at: _dt.datetime
    last_seen_at: _dt.datetime
    acknowledged_at: _dt.datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    escalated_at: _dt.datetime | None
    escalation_level: int
    resolved_at: _dt.datetime | None
    resolved_by: str | None
    runbook: str
    notifications: list[NotificationOut]


class AlertOut(ApiModel):
    id: UUID
    rule: str
    severity: Literal['warning', 'critical']
    tier: int
    title: str
    details: dict[str, Any]
    status: Literal['open', 'acknowledged', 'resolved']
    occurrences: int
    dedup_key: str | None
    created_at: _dt.datetime
    last_seen_at: _dt.datetime
    acknowledged_at: _dt.datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    escalated_at: _dt.datetime | None
    escalation_level: int
    resolved_at: _dt.datetime | None
    resolved_by: str | None
    runbook: str


class Amount(ApiModel):
    """Credits as an exact decimal string and as integer millicredits."""

    credits: str
    millicredits: int


class Approval(ApiModel):
    reason: str


class Attest(ApiModel):
    status: Literal['confirmed', 'resolved', 'not_found']
    note: str | None = None


class AttestationCounts(ApiModel):
    confirmed: int
    resolved: int
    not_found: int
    total: int


class AttestationEffectOut(ApiModel):
    effect: str
    details: dict[str, Any]
    applied_at: _dt.datetime


class AttestationOut(ApiModel):
    id: UUID
    problem_id: UUID
    status: str
    note: str | None
    created_at: _dt.datetime


class AttestationRecorded(ApiModel):
    attestation: AttestationOut
    counts: AttestationCounts
    effects_applied: list[str]


class AttestationSummary(ApiModel):
    problem_id: UUID
    urgency: float
    counts: AttestationCounts
    mine: AttestationOut | None
    effects: list[AttestationEffectOut]


class AuditEntryOut(ApiModel):
    id: int
    request_id: UUID | None
    subject_id: UUID | None
    action: str
    actor: str
    details: dict[str, Any]
    created_at: _dt.datetime


class BackfillOut(ApiModel):
    added: int
    added_ids: list[UUID]
    pool_size: int
    active: int


class BudgetDay(ApiModel):
    day: str
    spent_usd_micros: int
    calls: int
    alerted_80_at: _dt.datetime | None
    exhausted_at: _dt.datetime | None


class BudgetToday(ApiModel):
    day: str
    budget_cents: int
    budget_usd_micros: int
    spent_usd_micros: int
    spent_share: float | None
    calls: int
    exhausted: bool


class CoarseLocation(ApiModel):
    latitude: float
    longitude: float


class CollusionPair(ApiModel):
    a: UUID
    b: UUID
    shared: int
    agreement: float


class CollusionReport(ApiModel):
    days: int
    against_truth: bool
    reviews: int
    min_shared: int
    threshold: float
    pairs: list[CollusionPair]
    truncated: bool = False
    max_pairs: int = 1000
    attestation_socks: dict[str, int] | None = None


class CompletionCriteria(ApiModel):
    photo_pairs: int
    gps_check: bool
    min_minutes_between: int


class CompletionCriteriaOut(ApiModel):
    photo_pairs: int
    gps_check: bool
    min_minutes_between: int


class ComplianceCountsOut(ApiModel):
    layer_a_blocks: int
    admin_overturns: int
    flags: int


class ComplianceOut(ApiModel):
    agent_id: UUID
    score: int
    compliant: bool
    threshold: int
    window_days: int
    counts: ComplianceCountsOut
    weights: ComplianceCountsOut
    as_of: _dt.datetime


class Consensus(ApiModel):
    decisions: int
    p50_ms: float | None
    p95_ms: float | None
    series: list[LatencyPoint]


class ConsentAnswer(ApiModel):
    purpose: Literal['location_on_evidence', 'contact_for_missions']
    granted: bool


class ConsentEvent(ApiModel):
    purpose: str
    action: Literal['granted', 'withdrawn']
    policy_version: str
    source: str
    created_at: _dt.datetime


class ConsentOut(ApiModel):
    purpose: str
    description: str
    granted: bool
    answered: bool
    default: bool
    policy_version: str | None
    source: str | None
    granted_at: _dt.datetime | None
    withdrawn_at: _dt.datetime | None


class ConsentsOut(ApiModel):
    policy_version: str
    consents: list[ConsentOut]
    history: list[ConsentEvent]


class ContentToReview(ApiModel):
    id: UUID
    kind: str
    title: str
    body: str
    domain: str | None
    location: dict[str, float] | None


class CreateMission(ApiModel):
    template_id: UUID
    location: GeoPoint
    title: str | None = None
    reward_millicredits: int = 0
    problem_id: UUID | None = None
    expires_at: _dt.datetime | None = None


class CreditsOut(ApiModel):
    balance: Amount
    history: list[LedgerLine]
    next_cursor: str | None


class DashboardAlerts(ApiModel):
    counts: AlertCounts
    unresolved: list[AlertOut]


class DashboardOut(ApiModel):
    generated_at: _dt.datetime
    window_hours: int
    routing_split: dict[str, int]
    decisions_by_path: dict[str, int]
    submissions_series: list[SubmissionPoint]
    consensus: Consensus
    spot_checks: SpotChecks
    economy: list[EconomyPoint]
    validators: Validators
    alerts: DashboardAlerts
    decision_gates: dict[str, Any] | None


class DatabaseHealth(ApiModel):
    pool_in_use: int
    pool_max: int
    server_connections: int
    server_max_connections: int


class DeadLetters(ApiModel):
    outbox: dict[str, int]
    sqs: dict[str, int | None]


class DecisionGates(ApiModel):
    computed_at: _dt.datetime
    window_days: int
    all_met: bool
    gates: list[GateOut]
    go_no_go: GoNoGoOut
    figures: dict[str, Any]


class DeliveryStats(ApiModel):
    window_days: int
    runs_finished: int
    runs_succeeded: int
    success_rate: float | None
    schedules: list[ScheduleStats]


class DomainThresholds(ApiModel):
    approve: float
    flag: float
    harm_warn: float
    harm_block: float
    domain: str
    overridden: bool
    updated_by: str | None
    updated_at: _dt.datetime | None


class DownloadOut(ApiModel):
    url: str
    content_type: str
    expires_at: _dt.datetime


class EconomyAlertOut(ApiModel):
    rule: str
    severity: Literal['warning', 'critical']
    title: str


class EconomyFigures(ApiModel):
    """One window of the economy. ratio = faucet / sink (4 places); null when sink is 0, and then"""

    window_start: _dt.datetime
    window_end: _dt.datetime
    faucet: Amount
    starter_grants: Amount
    sink: Amount
    ratio: float | None
    ratio_state: Literal['defined', 'no_sink', 'idle']
    active_agents: int
    agents_total: int
    hardship_agents: int
    hardship_rate: float
    median_balance: Amount
    circulating: Amount
    total_validators: int
    alerts: list[EconomyAlertOut]


class EconomyOut(ApiModel):
    latest: EconomySnapshotOut | None
    current: EconomyFigures
    history: list[EconomySnapshotOut]


class EconomyPoint(ApiModel):
    bucket: _dt.datetime
    ratio: float | None
    ratio_state: str
    hardship_rate: float
    faucet: int
    sink: int


class EconomySnapshotOut(ApiModel):
    window_start: _dt.datetime
    window_end: _dt.datetime
    faucet: Amount
    starter_grants: Amount
    sink: Amount
    ratio: float | None
    ratio_state: Literal['defined', 'no_sink', 'idle']
    active_agents: int
    agents_total: int
    hardship_agents: int
    hardship_rate: float
    median_balance: Amount
    circulating: Amount
    total_validators: int
    alerts: list[EconomyAlertOut]
    id: int
    created_at: _dt.datetime


class EngineRun(ApiModel):
    checks: int
    firing: list[str]
    unknown: list[str]
    raised: int
    resolved: int
    announced: int
    escalated: int
    notifications_sent: int
    notifications_failed: int


class EvaluationBody(ApiModel):
    decision: Literal['approve', 'reject', 'flag']
    confidence: float
    reasoning: str
    safety_flagged: bool = False


class EvaluationOut(ApiModel):
    id: UUID
    submission_id: UUID
    status: Literal['pending', 'answered', 'expired', 'cancelled']
    decision: Literal['approve', 'reject', 'flag'] | None
    confidence: float | None
    reasoning: str | None
    safety_flagged: bool | None
    assigned_at: _dt.datetime
    expires_at: _dt.datetime
    responded_at: _dt.datetime | None
    quorum_reached: bool


class EvidenceOut(ApiModel):
    id: UUID
    mission_id: UUID
    pair_id: UUID | None
    sequence: str
    status: Literal['quarantined', 'processing', 'ready', 'rejected']
    content_type: str
    size_bytes: int
    captured_at: _dt.datetime
    declared_location: CoarseLocation | None
    created_at: _dt.datetime
    uploaded_at: _dt.datetime | None
    processed_at: _dt.datetime | None
    privacy: PrivacyReport | None
    coarse_location: CoarseLocation | None
    rejection: Rejection | None
    retries_used: int
    retries_left: int
    download: DownloadOut | None


class EvidencePairOut(ApiModel):
    id: UUID
    mission_id: UUID
    status: Literal['open', 'verifying', 'approved', 'rejected', 'peer_review']
    before: EvidenceOut | None
    after: EvidenceOut | None
    rejected_photos: list[UUID]
    criteria: PairCriteriaOut
    verification: PairVerificationOut | None
    created_at: _dt.datetime


class EvidenceRegistered(ApiModel):
    evidence: EvidenceOut
    upload: UploadOut


class ExportDownloadOut(ApiModel):
    url: str
    expires_at: _dt.datetime
    content_type: str


class ExportJobDownloadOut(ApiModel):
    """A link that opens the job's file until expires_at (a few minutes): fetch it at once."""

    url: str
    expires_at: _dt.datetime
    filename: str
    content_type: str
    rows: int
    bytes: int


class ExportJobOut(ApiModel):
    """An export job: its status, and progress 0-100 (rows written over the rows estimated)."""

    id: UUID
    kind: Literal['decisions', 'trends', 'compliance', 'ledger']
    format: Literal['csv', 'json']
    from_: _dt.date = Field(alias='from')
    to: _dt.date
    status: Literal['queued', 'running', 'succeeded', 'failed']
    progress: int
    rows: int
    bytes: int
    parts: int
    estimated_rows: int
    estimated_bytes: int
    attempts: int
    error: str | None
    created_at: _dt.datetime
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None
    expires_at: _dt.datetime | None


class ExportLinkOut(ApiModel):
    """An export too large to answer inline, written to the export store: download it from url"""

    kind: Literal['decisions', 'trends', 'compliance', 'ledger']
    format: Literal['csv', 'json']
    url: str
    expires_at: _dt.datetime
    rows: int
    bytes: int
    filename: str


class ExportOut(ApiModel):
    bytes: int | None
    expires_at: _dt.datetime | None
    expired: bool


class FilterBody(ApiModel):
    """Empty lists mean "any"."""

    domains: list[Literal['poverty_reduction', 'education_access', 'healthcare_improvement', 'environmental_protection', 'food_security', 'mental_health_wellbeing', 'community_building', 'disaster_response', 'digital_inclusion', 'human_rights', 'clean_water_sanitation', 'sustainable_energy', 'gender_equality', 'biodiversity_conservation', 'elder_care']] | None = None
    kinds: list[Literal['problem', 'solution', 'debate']] | None = None
    regions: list[RegionFilterBody] | None = None


class FilterOut(ApiModel):
    domains: list[str]
    kinds: list[str]
    regions: list[RegionFilterOut]


class FlagChange(ApiModel):
    name: str
    old_value: Any
    new_value: Any
    reason: str
    actor: str
    forced: bool
    created_at: _dt.datetime


class FlagDetail(ApiModel):
    name: str
    type: str
    default: Any
    minimum: float | None
    maximum: float | None
    description: str
    value: Any
    stored_value: str | None
    stored_value_valid: bool
    updated_at: _dt.datetime | None
    updated_by: str | None
    history: list[FlagChange]


class FlagOut(ApiModel):
    name: str
    type: str
    default: Any
    minimum: float | None
    maximum: float | None
    description: str
    value: Any
    stored_value: str | None
    stored_value_valid: bool
    updated_at: _dt.datetime | None
    updated_by: str | None


class FlagWritten(ApiModel):
    name: str
    type: str
    default: Any
    minimum: float | None
    maximum: float | None
    description: str
    value: Any
    stored_value: str | None
    stored_value_valid: bool
    updated_at: _dt.datetime | None
    updated_by: str | None
    previous_value: Any
    gate: dict[str, Any] | None


class GateOut(ApiModel):
    name: str
    state: Literal['met', 'not_met', 'unknown']
    value: float | None
    threshold: str
    detail: str


class GeoPoint(ApiModel):
    latitude: float
    longitude: float


class GeoPointOut(ApiModel):
    latitude: float
    longitude: float


class GoNoGoOut(ApiModel):
    verdict: Literal['go', 'no_go', 'undecided']
    go: list[GateOut]
    no_go: list[GateOut]


class HealthOut(ApiModel):
    status: str
    database: str
    version: str


class JobRun(ApiModel):
    job: str
    schedule: str
    every_seconds: int
    last_started_at: _dt.datetime | None
    last_finished_at: _dt.datetime | None
    last_ok: bool | None
    last_error: str | None
    last_duration_ms: int | None
    last_ok_at: _dt.datetime | None
    consecutive_failures: int
    runs_24h: int
    failures_24h: int
    stale: bool


class KeyActionResult(ApiModel):
    key: KeyOut
    action: AdminActionOut


class KeyOut(ApiModel):
    prefix: str
    role: str
    agent_id: UUID | None
    label: str
    created_at: _dt.datetime
    revoked_at: _dt.datetime | None
    last_used_at: _dt.datetime | None


class KeyUsage(ApiModel):
    current_key_id: str
    columns: dict[str, dict[str, int]]


class LatePhotos(ApiModel):
    late: int
    oldest_waiting_s: float | None
    evidence_ids: list[UUID]
    lease_s: int


class LatencyPoint(ApiModel):
    bucket: _dt.datetime
    decisions: int
    p50_ms: float | None
    p95_ms: float | None


class LayerBUsage(ApiModel):
    today: BudgetToday
    days: list[BudgetDay]
    outcomes: dict[str, int]


class LedgerLine(ApiModel):
    id: int
    kind: str
    amount: Amount
    balance_before: Amount
    balance_after: Amount
    reference: str
    memo: dict[str, Any]
    created_at: _dt.datetime


class LedgerVerification(ApiModel):
    accounts_checked: int
    mismatches: list[dict[str, Any]]
    legs_checked: int = 0
    complete: bool = True
    scope: Literal['since_checkpoint', 'whole_journal', 'recent_legs'] = 'whole_journal'
    checkpoint: VerificationPass | None = None
    latest_full_pass: VerificationPass | None = None


class Location(ApiModel):
    latitude: float
    longitude: float


class MaskedSpan(ApiModel):
    field: Literal['title', 'body']
    kind: str
    start: int
    end: int


class MissionOut(ApiModel):
    id: UUID
    template_id: UUID
    template: dict[str, Any]
    title: str
    location: GeoPointOut
    problem_id: UUID | None
    reward: Amount
    status: str
    expired: bool
    expires_at: _dt.datetime
    created_at: _dt.datetime


class MissionTemplateBody(ApiModel):
    name: str
    description: str = ''
    domain: Literal['poverty_reduction', 'education_access', 'healthcare_improvement', 'environmental_protection', 'food_security', 'mental_health_wellbeing', 'community_building', 'disaster_response', 'digital_inclusion', 'human_rights', 'clean_water_sanitation', 'sustainable_energy', 'gender_equality', 'biodiversity_conservation', 'elder_care']
    difficulty: Literal['easy', 'medium', 'hard']
    required_photos: int
    completion_criteria: CompletionCriteria
    steps: list[str]
    gps_radius_m: int
    duration_minutes: int


class MissionTemplateOut(ApiModel):
    id: UUID
    name: str
    description: str
    domain: str
    difficulty: str
    required_photos: int
    completion_criteria: CompletionCriteriaOut
    steps: list[str]
    gps_radius_m: int
    duration_minutes: int
    created_at: _dt.datetime
    updated_at: _dt.datetime
    deleted_at: _dt.datetime | None


class NewExportJob(ApiModel):
    kind: Literal['decisions', 'trends', 'compliance', 'ledger']
    from_: _dt.date = Field(alias='from')
    to: _dt.date
    format: Literal['csv', 'json'] = 'csv'


class NewPrivacyRequest(ApiModel):
    type: Literal['export', 'erase']
    subject_id: UUID | None = None
    reason: str | None = None


class NotificationOut(ApiModel):
    event: Literal['raised', 'escalated']
    channel: str
    status: Literal['pending', 'sent', 'failed']
    attempts: int
    rounds: int
    last_error: str | None
    created_at: _dt.datetime
    sent_at: _dt.datetime | None


class OriginalText(ApiModel):
    """The author's text before PII masking: shown to its author and admins only."""

    title: str
    body: str
    masked: list[MaskedSpan]


class PairCriteriaOut(ApiModel):
    min_minutes_between: int
    gps_radius_m: int
    gps_check: bool


class PairVerificationOut(ApiModel):
    improvement: float | None
    confidence: float | None
    reasoning: str | None
    verifier: str | None
    model: str | None
    error: str | None
    decided_at: _dt.datetime | None


class PendingEvaluation(ApiModel):
    id: UUID
    submission: ContentToReview
    assigned_at: _dt.datetime
    expires_at: _dt.datetime


class PreviewOut(ApiModel):
    schedule_id: UUID
    window_from: _dt.datetime
    window_to: _dt.datetime
    items: int
    bytes: int
    content_type: str
    sample: str
    truncated: bool


class PrivacyReport(ApiModel):
    removed_metadata: list[str]
    orientation_applied: bool
    blur_enabled: bool
    faces_blurred: int
    plates_blurred: int
    regions_blurred: int
    width: int
    height: int
    sha256: str
    recovered_truncated: bool = False


class PrivacyRequestOut(ApiModel):
    id: UUID
    type: Literal['export', 'erase']
    subject_id: UUID
    subject_kind: str
    status: Literal['pending', 'processing', 'completed', 'failed']
    progress: int
    step: str | None
    awaiting_approval: bool
    on_behalf: bool
    requested_by: str
    reason: str | None
    approved_by: str | None
    approved_at: _dt.datetime | None
    approval_reason: str | None
    attempts: int
    error: str | None
    result: dict[str, Any] | None
    export: ExportOut | None
    created_at: _dt.datetime
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None


class PutConsents(ApiModel):
    policy_version: str
    consents: list[ConsentAnswer]


class QuotaResetBody(ApiModel):
    reason: str
    modes: list[Literal['live', 'shadow']] = ['live', 'shadow']


class QuotaResetOut(ApiModel):
    live_before: int
    shadow_before: int
    modes: list[str]
    stats: ValidatorStats


class Region(ApiModel):
    latitude: float
    longitude: float
    label: str = ''


class RegionFilterBody(ApiModel):
    latitude: float
    longitude: float
    radius_km: float


class RegionFilterOut(ApiModel):
    latitude: float
    longitude: float
    radius_km: float


class RegionOut(ApiModel):
    latitude: float
    longitude: float
    label: str


class RegionsBody(ApiModel):
    regions: list[Region]


class RegisterAgent(ApiModel):
    name: str
    description: str = ''
    kind: Literal['agent', 'human'] = 'agent'
    owner_id: UUID | None = None


class RegisterEvidence(ApiModel):
    mission_id: UUID
    pair_id: UUID | None = None
    sequence: Literal['before', 'after', 'standalone']
    content_type: str
    size_bytes: int
    captured_at: _dt.datetime
    latitude: float | None = None
    longitude: float | None = None


class Rejection(ApiModel):
    code: str
    message: str


class RemoveThresholds(ApiModel):
    reason: str


class RetentionKindOut(ApiModel):
    kind: str
    flag: str
    period: int
    unit: Literal['days', 'hours']
    action: Literal['delete', 'anonymise']
    cutoff: _dt.datetime
    due: int
    next_run_limit: int
    description: str


class RetentionOut(ApiModel):
    generated_at: _dt.datetime
    kinds: list[RetentionKindOut]
    last_run: RetentionRunOut | None


class RetentionRunOut(ApiModel):
    started_at: _dt.datetime
    finished_at: _dt.datetime | None
    ok: bool | None
    error: str | None
    result: Any
    duration_ms: int | None


class ReviewDecision(ApiModel):
    decision: Literal['approve', 'reject']
    notes: str


class ReviewEvent(ApiModel):
    action: str
    from_status: str
    to_status: str
    actor: str
    notes: str | None
    details: dict[str, Any]
    created_at: _dt.datetime


class ReviewItemDetail(ApiModel):
    id: UUID
    subject_type: str
    subject_id: UUID
    source: str
    reason: str
    details: dict[str, Any]
    priority: int
    status: Literal['pending', 'claimed', 'reviewed', 'escalated', 'dismissed']
    claimed_by: str | None
    claimed_at: _dt.datetime | None
    resolution: str | None
    notes: str | None
    resolved_by: str | None
    resolved_at: _dt.datetime | None
    created_at: _dt.datetime
    events: list[ReviewEvent]
    subject: ReviewSubject | None


class ReviewItemOut(ApiModel):
    id: UUID
    subject_type: str
    subject_id: UUID
    source: str
    reason: str
    details: dict[str, Any]
    priority: int
    status: Literal['pending', 'claimed', 'reviewed', 'escalated', 'dismissed']
    claimed_by: str | None
    claimed_at: _dt.datetime | None
    resolution: str | None
    notes: str | None
    resolved_by: str | None
    resolved_at: _dt.datetime | None
    created_at: _dt.datetime


class ReviewNotes(ApiModel):
    notes: str


class ReviewOutcome(ApiModel):
    item: ReviewItemOut
    submission: SubmissionEffect | None


class ReviewSubject(ApiModel):
    id: UUID
    agent_id: UUID
    kind: str
    title: str
    status: str
    decided_by: str | None


class RollbackBody(ApiModel):
    reason: str


class RollbackOut(ApiModel):
    flag: str
    previous_value: Any
    value: Any
    effective_within_seconds: float


class RotationOut(ApiModel):
    current_key_id: str
    reencrypted: dict[str, int]
    remaining: int
    failed: int
    done: bool


class RunOut(ApiModel):
    id: UUID
    schedule_id: UUID
    trigger: Literal['schedule', 'manual']
    status: Literal['queued', 'running', 'retrying', 'succeeded', 'failed']
    window_from: _dt.datetime
    window_to: _dt.datetime
    attempts: int
    items: int | None
    bytes: int | None
    response_code: int | None
    error: str | None
    duration_ms: int | None
    location: str | None
    created_at: _dt.datetime
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None


class ScheduleBody(ApiModel):
    partner: str
    target: str
    filter: FilterBody | None = None
    format: Literal['jsonl', 'csv'] = 'jsonl'
    cron: str
    active: bool = True
    secret: str | None = None


class ScheduleCreated(ApiModel):
    schedule: ScheduleOut
    secret: str
    note: str = 'Store this secret now: receivers verify X-Peerguard-Signature with it.'


class ScheduleOut(ApiModel):
    id: UUID
    partner: str
    target: str
    target_kind: Literal['webhook', 's3']
    filter: FilterOut
    format: Literal['jsonl', 'csv']
    cron: str
    active: bool
    watermark_at: _dt.datetime
    next_run_at: _dt.datetime
    next_runs: list[_dt.datetime]
    created_by: str
    created_at: _dt.datetime
    updated_at: _dt.datetime


class ScheduleStats(ApiModel):
    id: UUID
    partner: str
    active: bool
    finished: int
    succeeded: int
    failed: int
    success_rate: float | None
    last_success_at: _dt.datetime | None
    last_failure_at: _dt.datetime | None
    items_delivered: int


class SetFlag(ApiModel):
    value: Any
    reason: str
    force: bool = False


class SetThresholds(ApiModel):
    """Omitted values take the defaults (approve 0.70, flag 0.40, harm_warn 0.60, harm_block 0.80)."""

    approve: float | None = None
    flag: float | None = None
    harm_warn: float | None = None
    harm_block: float | None = None
    reason: str


class ShadowCell(ApiModel):
    consensus: str
    layer_b: str
    count: int
    agree: int


class ShadowReport(ApiModel):
    days: int
    comparisons: int
    agreements: int
    agreement: float | None
    matrix: list[ShadowCell]


class SockPattern(ApiModel):
    problem_id: UUID
    status: str
    pattern: str
    attesters: int
    distinct_owners: int
    attester_ids: list[UUID]


class SockReport(ApiModel):
    days: int
    same_owner_as_problem: int
    shared_owner_groups: int
    shared_address_groups: int
    patterns: list[SockPattern]


class SpotCheckOut(ApiModel):
    id: UUID
    submission_id: UUID
    status: Literal['pending', 'submitting', 'batched', 'completed', 'failed']
    peer_outcome: Literal['approved', 'rejected']
    layer_b_decision: Literal['approved', 'rejected', 'flagged'] | None
    agrees: bool | None
    disagreement: Literal['false_negative', 'false_positive', 'missed_flag'] | None
    error: str | None
    batch_id: str | None
    review_item_id: UUID | None
    verdict: Literal['peer_correct', 'layer_b_correct'] | None
    verdict_notes: str | None
    verdict_by: str | None
    verdict_at: _dt.datetime | None
    created_at: _dt.datetime
    completed_at: _dt.datetime | None


class SpotCheckStats(ApiModel):
    days: int
    total: int
    open: int
    completed: int
    failed: int
    agreements: int
    agreement_rate: float | None
    disagreements: dict[str, int]
    false_negative_rate: float | None
    verdicts: dict[str, int]
    awaiting_verdict: int


class SpotCheckVerdictOut(ApiModel):
    id: UUID
    submission_id: UUID
    status: Literal['pending', 'submitting', 'batched', 'completed', 'failed']
    peer_outcome: Literal['approved', 'rejected']
    layer_b_decision: Literal['approved', 'rejected', 'flagged'] | None
    agrees: bool | None
    disagreement: Literal['false_negative', 'false_positive', 'missed_flag'] | None
    error: str | None
    batch_id: str | None
    review_item_id: UUID | None
    verdict: Literal['peer_correct', 'layer_b_correct'] | None
    verdict_notes: str | None
    verdict_by: str | None
    verdict_at: _dt.datetime | None
    created_at: _dt.datetime
    completed_at: _dt.datetime | None
    tier_changes: list[dict[str, Any]]


class SpotChecks(ApiModel):
    completed: int
    agreements: int
    agreement_rate: float | None
    series: list[SpotPoint]


class SpotPoint(ApiModel):
    bucket: _dt.datetime
    completed: int
    agreements: int


class StageBacklog(ApiModel):
    stage: str
    waiting: int
    oldest_age_s: float | None


class SubmissionDetail(ApiModel):
    id: UUID
    agent_id: UUID
    kind: str
    title: str
    body: str
    domain: str | None
    location: dict[str, float] | None
    mission_id: UUID | None
    status: Literal['pending', 'approved', 'rejected', 'flagged']
    decided_by: str | None
    route_path: str | None
    cost: Amount
    created_at: _dt.datetime
    decided_at: _dt.datetime | None
    trail: list[TrailEntry]
    original: OriginalText | None = None


class SubmissionEffect(ApiModel):
    submission_id: UUID
    applied: bool
    verdict: str | None = None
    previous: dict[str, str | None] | None = None
    overturn: dict[str, Any] | None = None
    reason: str | None = None


class SubmissionOut(ApiModel):
    id: UUID
    agent_id: UUID
    kind: str
    title: str
    body: str
    domain: str | None
    location: dict[str, float] | None
    mission_id: UUID | None
    status: Literal['pending', 'approved', 'rejected', 'flagged']
    decided_by: str | None
    route_path: str | None
    cost: Amount
    created_at: _dt.datetime
    decided_at: _dt.datetime | None


class SubmissionPoint(ApiModel):
    bucket: _dt.datetime
    layer_a: int
    layer_b: int
    peer: int
    total: int


class SubmitContent(ApiModel):
    kind: Literal['problem', 'solution', 'debate']
    title: str
    body: str
    domain: Literal['poverty_reduction', 'education_access', 'healthcare_improvement', 'environmental_protection', 'food_security', 'mental_health_wellbeing', 'community_building', 'disaster_response', 'digital_inclusion', 'human_rights', 'clean_water_sanitation', 'sustainable_energy', 'gender_equality', 'biodiversity_conservation', 'elder_care'] | None = None
    location: Location | None = None
    mission_id: UUID | None = None


class SuspensionBody(ApiModel):
    suspended: bool
    reason: str | None = None
    until: _dt.datetime | None = None


class ThresholdChange(ApiModel):
    id: int
    domain: str
    old_value: dict[str, float] | None
    new_value: dict[str, float] | None
    reason: str
    actor: str
    created_at: _dt.datetime


class ThresholdValues(ApiModel):
    approve: float
    flag: float
    harm_warn: float
    harm_block: float


class ThresholdsOverview(ApiModel):
    defaults: ThresholdValues
    domains: list[DomainThresholds]


class TierChange(ApiModel):
    old_tier: Literal['apprentice', 'journeyman', 'expert']
    new_tier: Literal['apprentice', 'journeyman', 'expert']
    f1_score: float
    scored_evaluations: int
    reason: str
    created_at: _dt.datetime


class TrailEntry(ApiModel):
    stage: str
    verdict: dict[str, Any]
    created_at: _dt.datetime


class TrendPointOut(ApiModel):
    day: _dt.date
    value: float


class TrendSeriesOut(ApiModel):
    metric: str
    series: str
    points: list[TrendPointOut]


class TrendsOut(ApiModel):
    """Stored daily figures. A day missing from days_done was not aggregated (yet); a series has no"""

    from_: _dt.date = Field(alias='from')
    to: _dt.date
    metrics: list[str]
    days_done: list[_dt.date]
    series: list[TrendSeriesOut]


class UploadOut(ApiModel):
    url: str
    method: str
    headers: dict[str, str]
    expires_at: _dt.datetime


class ValidatorRow(ApiModel):
    agent_id: UUID
    name: str
    owner_id: UUID
    tier: Literal['apprentice', 'journeyman', 'expert']
    f1: float
    scored_evaluations: int
    response_rate: float | None
    evaluations_today: int
    quota_day: _dt.date
    suspended_at: _dt.datetime | None
    joined_at: _dt.datetime


class ValidatorStats(ApiModel):
    agent_id: UUID
    tier: Literal['apprentice', 'journeyman', 'expert']
    f1: float
    precision: float
    recall: float
    scored_evaluations: int
    response_rate: float | None
    daily_quota: int
    evaluations_today: int
    quota_left: int
    shadow_daily_quota: int
    shadow_evaluations_today: int
    suspended: bool
    suspension_reason: str | None
    suspended_until: _dt.datetime | None
    home_regions: list[RegionOut]
    evaluations: dict[str, int]
    tier_history: list[TierChange]
    joined_at: _dt.datetime
    tier_changed_at: _dt.datetime


class Validators(ApiModel):
    active: int


class VerdictBody(ApiModel):
    verdict: Literal['peer_correct', 'layer_b_correct']
    notes: str | None = None


class VerificationPass(ApiModel):
    id: int
    upto_leg_id: int
    finished_at: _dt.datetime
    mismatches: int


class WorkersOut(ApiModel):
    generated_at: _dt.datetime
    outbox_oldest_unsent_age_s: float | None
    stages: list[StageBacklog]
    dead_letters: DeadLetters
    database: DatabaseHealth
    scheduler: list[JobRun]
    late_photos: LatePhotos


AckBody.model_rebuild()
ActionBody.model_rebuild()
AdminActionOut.model_rebuild()
AgentActionResult.model_rebuild()
AgentOut.model_rebuild()
AgentRecord.model_rebuild()
AgentRegistered.model_rebuild()
AgentStatusOut.model_rebuild()
AggregateOut.model_rebuild()
AlertCounts.model_rebuild()
AlertDetailOut.model_rebuild()
AlertOut.model_rebuild()
Amount.model_rebuild()
Approval.model_rebuild()
Attest.model_rebuild()
AttestationCounts.model_rebuild()
AttestationEffectOut.model_rebuild()
AttestationOut.model_rebuild()
AttestationRecorded.model_rebuild()
AttestationSummary.model_rebuild()
AuditEntryOut.model_rebuild()
BackfillOut.model_rebuild()
BudgetDay.model_rebuild()
BudgetToday.model_rebuild()
CoarseLocation.model_rebuild()
CollusionPair.model_rebuild()
CollusionReport.model_rebuild()
CompletionCriteria.model_rebuild()
CompletionCriteriaOut.model_rebuild()
ComplianceCountsOut.model_rebuild()
ComplianceOut.model_rebuild()
Consensus.model_rebuild()
ConsentAnswer.model_rebuild()
ConsentEvent.model_rebuild()
ConsentOut.model_rebuild()
ConsentsOut.model_rebuild()
ContentToReview.model_rebuild()
CreateMission.model_rebuild()
CreditsOut.model_rebuild()
DashboardAlerts.model_rebuild()
DashboardOut.model_rebuild()
DatabaseHealth.model_rebuild()
DeadLetters.model_rebuild()
DecisionGates.model_rebuild()
DeliveryStats.model_rebuild()
DomainThresholds.model_rebuild()
DownloadOut.model_rebuild()
EconomyAlertOut.model_rebuild()
EconomyFigures.model_rebuild()
EconomyOut.model_rebuild()
EconomyPoint.model_rebuild()
EconomySnapshotOut.model_rebuild()
EngineRun.model_rebuild()
EvaluationBody.model_rebuild()
EvaluationOut.model_rebuild()
EvidenceOut.model_rebuild()
EvidencePairOut.model_rebuild()
EvidenceRegistered.model_rebuild()
ExportDownloadOut.model_rebuild()
ExportJobDownloadOut.model_rebuild()
ExportJobOut.model_rebuild()
ExportLinkOut.model_rebuild()
ExportOut.model_rebuild()
FilterBody.model_rebuild()
FilterOut.model_rebuild()
FlagChange.model_rebuild()
FlagDetail.model_rebuild()
FlagOut.model_rebuild()
FlagWritten.model_rebuild()
GateOut.model_rebuild()
GeoPoint.model_rebuild()
GeoPointOut.model_rebuild()
GoNoGoOut.model_rebuild()
HealthOut.model_rebuild()
JobRun.model_rebuild()
KeyActionResult.model_rebuild()
KeyOut.model_rebuild()
KeyUsage.model_rebuild()
LatePhotos.model_rebuild()
LatencyPoint.model_rebuild()
LayerBUsage.model_rebuild()
LedgerLine.model_rebuild()
LedgerVerification.model_rebuild()
Location.model_rebuild()
MaskedSpan.model_rebuild()
MissionOut.model_rebuild()
MissionTemplateBody.model_rebuild()
MissionTemplateOut.model_rebuild()
NewExportJob.model_rebuild()
NewPrivacyRequest.model_rebuild()
NotificationOut.model_rebuild()
OriginalText.model_rebuild()
PairCriteriaOut.model_rebuild()
PairVerificationOut.model_rebuild()
PendingEvaluation.model_rebuild()
PreviewOut.model_rebuild()
PrivacyReport.model_rebuild()
PrivacyRequestOut.model_rebuild()
PutConsents.model_rebuild()
QuotaResetBody.model_rebuild()
QuotaResetOut.model_rebuild()
Region.model_rebuild()
RegionFilterBody.model_rebuild()
RegionFilterOut.model_rebuild()
RegionOut.model_rebuild()
RegionsBody.model_rebuild()
RegisterAgent.model_rebuild()
RegisterEvidence.model_rebuild()
Rejection.model_rebuild()
RemoveThresholds.model_rebuild()
RetentionKindOut.model_rebuild()
RetentionOut.model_rebuild()
RetentionRunOut.model_rebuild()
ReviewDecision.model_rebuild()
ReviewEvent.model_rebuild()
ReviewItemDetail.model_rebuild()
ReviewItemOut.model_rebuild()
ReviewNotes.model_rebuild()
ReviewOutcome.model_rebuild()
ReviewSubject.model_rebuild()
RollbackBody.model_rebuild()
RollbackOut.model_rebuild()
RotationOut.model_rebuild()
RunOut.model_rebuild()
ScheduleBody.model_rebuild()
ScheduleCreated.model_rebuild()
ScheduleOut.model_rebuild()
ScheduleStats.model_rebuild()
SetFlag.model_rebuild()
SetThresholds.model_rebuild()
ShadowCell.model_rebuild()
ShadowReport.model_rebuild()
SockPattern.model_rebuild()
SockReport.model_rebuild()
SpotCheckOut.model_rebuild()
SpotCheckStats.model_rebuild()
SpotCheckVerdictOut.model_rebuild()
SpotChecks.model_rebuild()
SpotPoint.model_rebuild()
StageBacklog.model_rebuild()
SubmissionDetail.model_rebuild()
SubmissionEffect.model_rebuild()
SubmissionOut.model_rebuild()
SubmissionPoint.model_rebuild()
SubmitContent.model_rebuild()
SuspensionBody.model_rebuild()
ThresholdChange.model_rebuild()
ThresholdValues.model_rebuild()
ThresholdsOverview.model_rebuild()
TierChange.model_rebuild()
TrailEntry.model_rebuild()
TrendPointOut.model_rebuild()
TrendSeriesOut.model_rebuild()
TrendsOut.model_rebuild()
UploadOut.model_rebuild()
ValidatorRow.model_rebuild()
ValidatorStats.model_rebuild()
Validators.model_rebuild()
VerdictBody.model_rebuild()
VerificationPass.model_rebuild()
WorkersOut.model_rebuild()


__all__ = [
    'AckBody',
    'ActionBody',
    'AdminActionOut',
    'AgentActionResult',
    'AgentOut',
    'AgentRecord',
    'AgentRegistered',
    'AgentStatusOut',
    'AggregateOut',
    'AlertCounts',
    'AlertDetailOut',
    'AlertOut',
    'Amount',
    'Approval',
    'Attest',
    'AttestationCounts',
    'AttestationEffectOut',
    'AttestationOut',
    'AttestationRecorded',
    'AttestationSummary',
    'AuditEntryOut',
    'BackfillOut',
    'BudgetDay',
    'BudgetToday',
    'CoarseLocation',
    'CollusionPair',
    'CollusionReport',
    'CompletionCriteria',
    'CompletionCriteriaOut',
    'ComplianceCountsOut',
    'ComplianceOut',
    'Consensus',
    'ConsentAnswer',
    'ConsentEvent',
    'ConsentOut',
    'ConsentsOut',
    'ContentToReview',
    'CreateMission',
    'CreditsOut',
    'DashboardAlerts',
    'DashboardOut',
    'DatabaseHealth',
    'DeadLetters',
    'DecisionGates',
    'DeliveryStats',
    'DomainThresholds',
    'DownloadOut',
    'EconomyAlertOut',
    'EconomyFigures',
    'EconomyOut',
    'EconomyPoint',
    'EconomySnapshotOut',
    'EngineRun',
    'EvaluationBody',
    'EvaluationOut',
    'EvidenceOut',
    'EvidencePairOut',
    'EvidenceRegistered',
    'ExportDownloadOut',
    'ExportJobDownloadOut',
    'ExportJobOut',
    'ExportLinkOut',
    'ExportOut',
    'FilterBody',
    'FilterOut',
    'FlagChange',
    'FlagDetail',
    'FlagOut',
    'FlagWritten',
    'GateOut',
    'GeoPoint',
    'GeoPointOut',
    'GoNoGoOut',
    'HealthOut',
    'JobRun',
    'KeyActionResult',
    'KeyOut',
    'KeyUsage',
    'LatePhotos',
    'LatencyPoint',
    'LayerBUsage',
    'LedgerLine',
    'LedgerVerification',
    'Location',
    'MaskedSpan',
    'MissionOut',
    'MissionTemplateBody',
    'MissionTemplateOut',
    'NewExportJob',
    'NewPrivacyRequest',
    'NotificationOut',
    'OriginalText',
    'PairCriteriaOut',
    'PairVerificationOut',
    'PendingEvaluation',
    'PreviewOut',
    'PrivacyReport',
    'PrivacyRequestOut',
    'PutConsents',
    'QuotaResetBody',
    'QuotaResetOut',
    'Region',
    'RegionFilterBody',
    'RegionFilterOut',
    'RegionOut',
    'RegionsBody',
    'RegisterAgent',
    'RegisterEvidence',
    'Rejection',
    'RemoveThresholds',
    'RetentionKindOut',
    'RetentionOut',
    'RetentionRunOut',
    'ReviewDecision',
    'ReviewEvent',
    'ReviewItemDetail',
    'ReviewItemOut',
    'ReviewNotes',
    'ReviewOutcome',
    'ReviewSubject',
    'RollbackBody',
    'RollbackOut',
    'RotationOut',
    'RunOut',
    'ScheduleBody',
    'ScheduleCreated',
    'ScheduleOut',
    'ScheduleStats',
    'SetFlag',
    'SetThresholds',
    'ShadowCell',
    'ShadowReport',
    'SockPattern',
    'SockReport',
    'SpotCheckOut',
    'SpotCheckStats',
    'SpotCheckVerdictOut',
    'SpotChecks',
    'SpotPoint',
    'StageBacklog',
    'SubmissionDetail',
    'SubmissionEffect',
    'SubmissionOut',
    'SubmissionPoint',
    'SubmitContent',
    'SuspensionBody',
    'ThresholdChange',
    'ThresholdValues',
    'ThresholdsOverview',
    'TierChange',
    'TrailEntry',
    'TrendPointOut',
    'TrendSeriesOut',
    'TrendsOut',
    'UploadOut',
    'ValidatorRow',
    'ValidatorStats',
    'Validators',
    'VerdictBody',
    'VerificationPass',
    'WorkersOut',
]
