"""Use cases of the credit economy: submission costs, validation rewards, economic health.

charge_submission and pay_validation_reward run inside their callers' transactions (the submission's,
the consensus stage's); snapshot_economy and economy_overview are use cases of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from chalicelib.domain import economy
from chalicelib.domain.economy import EconomyAlert, HealthFigures
from chalicelib.domain.ledger import agent_account, sink_for, transfer
from chalicelib.domain.principal import Principal
from chalicelib.observability import logger
from chalicelib.services.unit_of_work import UnitOfWork

SNAPSHOT_WINDOW = timedelta(hours=1)
GRANT_BASELINE_WINDOWS = 24  # starter grants of a window are compared with the 24 windows before it


@dataclass(frozen=True)
class SubmissionFee:
    """What a submission will pay, decided under the row locks of the fee's accounts."""

    account: str
    sink: str  # the sink shard this fee is credited to (sink_for of the entry's key)
    cost: int  # millicredits the submission is worth at the current multiplier
    balance: int  # the agent's balance under the lock
    waived: bool  # hardship: the agent submits free, the journal records a waiver

    @property
    def charged(self) -> int:
        return 0 if self.waived else self.cost


def submission_fee_due(uow: UnitOfWork, kind: str) -> int | None:
    """What a submission of this kind costs now (millicredits), before any lock: None while
    SUBMISSION_COSTS_ENABLED is off. The hardship decision comes later, under the locks."""
    flags = uow.flags.current()
    if not flags["SUBMISSION_COSTS_ENABLED"]:
        return None
    return economy.submission_cost(kind, float(flags["SUBMISSION_COST_MULTIPLIER"]))


def fee_key(submission_id: object) -> str:
    """The ledger key of a submission's fee (or hardship waiver)."""
    return f"submission:{submission_id}"


def decide_submission_fee(uow: UnitOfWork, principal: Principal, kind: str,
                          submission_id: object) -> SubmissionFee | None:
    """Lock the fee's accounts and decide the fee, in the caller's transaction; None while
    SUBMISSION_COSTS_ENABLED is off (nothing is locked or written then).

    The cost is the kind's base (problem 2, solution 5, debate 1 credits) times
    SUBMISSION_COST_MULTIPLIER, never below 1 credit. The balance is read under the row locks of both
    accounts (taken in the ledger's id order), so the hardship decision and the debit (post_submission_fee,
    same transaction) see the same balance: below 10 credits the agent submits free. The fee's sink
    is the shard `sink_for` picks for the fee's key, so concurrent fees rarely wait on the same row.
    """
    flags = uow.flags.current()
    if not flags["SUBMISSION_COSTS_ENABLED"]:
        return None
    assert principal.agent_id is not None
    account = agent_account(principal.agent_id)
    cost = economy.submission_cost(kind, float(flags["SUBMISSION_COST_MULTIPLIER"]))
    sink = sink_for(fee_key(submission_id))
    balance = uow.ledger.lock_balances([account, sink])[account]
    return SubmissionFee(account=account, sink=sink, cost=cost, balance=balance,
                         waived=economy.in_hardship(balance))


def post_submission_fee(uow: UnitOfWork, principal: Principal, submission: dict[str, Any],
                        fee: SubmissionFee) -> int:
    """Post the decided fee (or the hardship waiver) under the key `submission:<id>`; returns the
    millicredits charged. Too little balance raises InsufficientCredits and the caller's transaction,
    the submission included, writes nothing."""
    key = fee_key(submission["id"])
    if fee.waived:
        uow.ledger.post_entry(idempotency_key=key, kind="hardship_waiver", legs=[],
            memo={"submission_id": str(submission["id"]), "agent_id": str(principal.agent_id),
                  "waived": fee.cost, "balance": fee.balance},
        )
        return 0
    uow.ledger.post_entry(idempotency_key=key, kind="submission_fee", legs=transfer(fee.account, fee.sink, fee.cost),
        memo={"submission_id": str(submission["id"]), "kind": submission["kind"]},
    )
    return fee.cost


def charge_submission(uow: UnitOfWork, principal: Principal, submission: dict[str, Any], now: datetime) -> int:
    """Charge an already stored submission in the caller's transaction (decide, post, record the cost on
    the row); returns the millicredits charged. The submission use case decides the fee before the
    insert instead, so that the cost is written with the row (one statement less)."""
    fee = decide_submission_fee(uow, principal, submission["kind"], submission["id"])
    if fee is None:
        return 0
    charged = post_submission_fee(uow, principal, submission, fee)
    if charged:
        uow.submissions.set_cost(submission["id"], charged)
        submission["cost_millicredits"] = charged
    return charged


@dataclass(frozen=True)
class RewardDue:
    """One evaluation whose reward the consensus stage settles."""

    evaluation_id: UUID | str
    validator_agent_id: UUID | str
    tier_at_assignment: str
    answered_in_time: bool


def pay_validation_reward(
    uow: UnitOfWork,
    *,
    evaluation_id: UUID | str,
    validator_agent_id: UUID | str,
    tier_at_assignment: str,
    answered_in_time: bool,
) -> int:
    """Pay one evaluation's reward in the caller's transaction, at most once; returns its millicredits.

    The reward is 0.5 / 0.75 / 1.0 credit for an apprentice / journeyman / expert (the tier when the
    evaluation was assigned) times VALIDATION_REWARD_MULTIPLIER, from the faucet, under the key
    `validation:<evaluation id>`. A repeated call moves nothing and returns what the first call paid,
    so callers may record the value idempotently. Nothing is paid (or written) and 0 is returned for a
    late or expired answer, while VALIDATION_REWARDS_ENABLED is off, or when the multiplier makes
    the reward 0.
    """
    due = RewardDue(evaluation_id, validator_agent_id, tier_at_assignment, answered_in_time)
    return pay_validation_rewards(uow, [due])[str(evaluation_id)]


def pay_validation_rewards(uow: UnitOfWork, dues: Sequence[RewardDue]) -> dict[str, int]:
    """pay_validation_reward for several evaluations, with the same guarantees, the rewards posted in
    one ledger statement; returns the millicredits of each evaluation, by evaluation id (str)."""
    for due in dues:
        if due.tier_at_assignment not in economy.BASE_REWARD:
            raise ValueError(f"unknown validator tier {due.tier_at_assignment!r}")
    paid = {str(d.evaluation_id): 0 for d in dues}
    timely = [d for d in dues if d.answered_in_time]
    if not timely:
        return paid
    flags = uow.flags.current()
    multiplier = float(flags["VALIDATION_REWARD_MULTIPLIER"])
    enabled = bool(flags["VALIDATION_REWARDS_ENABLED"])
    to_post: list[tuple[str, str, int, dict[str, Any]]] = []
    for d in timely:
        key, account = f"validation:{d.evaluation_id}", agent_account(d.validator_agent_id)
        reward = economy.validation_reward(d.tier_at_assignment, multiplier) if enabled else 0
        if reward == 0:  # nothing to pay now (rare): report what an earlier call paid, if any
            paid[str(d.evaluation_id)] = uow.ledger.amount_posted(key, account) or 0
            continue
        to_post.append((key, account, reward, {"evaluation_id": str(d.evaluation_id),
                                               "validator_id": str(d.validator_agent_id),
                                               "tier": d.tier_at_assignment}))
    posted = uow.ledger.record_rewards(to_post, kind="validation_reward")
    for key, _, _, memo in to_post:
        paid[memo["evaluation_id"]] = posted[key]
    return paid


# --- economic health -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HealthReport:
    """One window's figures, the extra counts and the alerts its rules raise (or would raise)."""

    window_start: datetime
    window_end: datetime
    figures: HealthFigures
    circulating: int
    total_validators: int
    alerts: list[EconomyAlert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        f = self.figures
        ratio = f.ratio
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "faucet": f.faucet,
            "starter_grants": f.starter_grants,
            "sink": f.sink,
            "ratio": None if ratio is None else economy.rounded(ratio),
            "ratio_state": f.ratio_state,
            "active_agents": f.active_agents,
            "agents_total": f.agents_total,
            "hardship_agents": f.hardship_agents,
            "hardship_rate": economy.rounded(f.hardship_rate),
            "median_balance": f.median_balance,
            "circulating": self.circulating,
            "total_validators": self.total_validators,
            "alerts": [_alert_summary(a) for a in self.alerts],
        }


def _alert_summary(alert: EconomyAlert) -> dict[str, Any]:
    return {"rule": alert.rule, "severity": alert.severity, "title": alert.title}


def economy_health(uow: UnitOfWork, *, window_start: datetime, window_end: datetime) -> HealthReport:
    """The economy over [window_start, window_end) with the alerts its rules give (nothing is stored)."""
    figures, extra = uow.economy.figures(window_start, window_end)
    daily = uow.economy.daily_flows(window_end, economy.STARVATION_DAYS)
    baseline = uow.economy.earlier_grants(window_start, window_end, GRANT_BASELINE_WINDOWS)
    return HealthReport(
        window_start=window_start, window_end=window_end, figures=figures,
        circulating=extra["circulating"], total_validators=extra["total_validators"],
        alerts=economy.health_alerts(figures, daily, baseline),
    )


def snapshot_economy(uow: UnitOfWork, now: datetime | None = None) -> dict[str, Any]:
    """The hourly job: snapshot the last whole hour and raise its alerts (the operations metrics publish
    the latest snapshot's ratio and hardship rate; the ledger emits faucet and sink flows as they move).

    The window is [hour - 1 h, hour) where hour is `now` truncated to the hour, so repeated or late
    runs of the schedule land on the same window: the second run stores nothing and raises nothing.
    Returns the stored snapshot row.
    """
    now = now or uow.clock.now()
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - SNAPSHOT_WINDOW
    refresh_ledger_rollup(uow, now)
    with uow:
        report = economy_health(uow, window_start=start, window_end=end)
        row, created = uow.economy.insert_snapshot(start, end, report.figures,
            extra={"circulating": report.circulating, "total_validators": report.total_validators},
            alerts=[_alert_summary(a) for a in report.alerts],
        )
        if created:
            for alert in report.alerts:
                uow.alerts.raise_alert(rule=alert.rule, severity=alert.severity, title=alert.title,
                    details={**alert.details, "snapshot_id": row["id"], "window_start": start.isoformat(),
                             "window_end": end.isoformat()},
                    dedup_key=alert.rule, now=now,
                )
    if created:
        logger.info("economy snapshot", extra={"window_end": end.isoformat(), "alerts": len(report.alerts)})
    return row


def refresh_ledger_rollup(uow: UnitOfWork, now: datetime | None = None, *,
                          max_chunks: int = economy.ROLLUP_CHUNKS_PER_RUN) -> dict[str, Any]:
    """Roll up the settled hours of the journal not rolled up yet (the first runs backfill from the
    first leg), one transaction per day of hours so that no transaction runs long, at most
    `max_chunks` days per run. Idempotent: an hour rolled up twice is replaced by the same sums, and
    the next run resumes at the watermark this one reached. Returns the hours covered, the rollup
    rows written and the watermark."""
    now = now or uow.clock.now()
    with uow:
        watermark = uow.economy.rollup_watermark()
        start = watermark
        if start is None:
            first = uow.economy.journal_start()
            start = None if first is None else economy.floor_hour(first - economy.ROLLUP_SETTLE)
    hours = rows = 0
    for lo, hi in [] if start is None else economy.rollup_chunks(start, now)[:max_chunks]:
        with uow:
            rows += uow.economy.roll_up_hours(lo, hi)
        hours += int((hi - lo) / economy.ROLLUP_HOUR)
        watermark = hi
    return {"hours": hours, "rows": rows, "watermark": watermark}


def economy_overview(uow: UnitOfWork, *, window_hours: int, days: int, now: datetime | None = None) -> dict[str, Any]:
    """For operators: the latest stored snapshot, a fresh computation over the last `window_hours`
    (ending now; its alerts are evaluated, not raised) and the snapshots of the last `days` days."""
    now = now or uow.clock.now()
    with uow:
        uow.repeatable_read()  # one consistent view
        current = economy_health(uow, window_start=now - timedelta(hours=window_hours), window_end=now)
        latest = uow.economy.latest_snapshot()
        history = uow.economy.snapshots_since(now - timedelta(days=days))
    return {"latest": latest, "current": current.to_dict(), "history": history}
