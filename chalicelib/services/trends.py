"""Use cases of the daily trends: aggregate one day (a re-run replaces it), the daily job with its
backfill of missed days, and reading figures for a range."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain import compliance, economy, trends
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.money import MILLI
from chalicelib.services.unit_of_work import UnitOfWork

Figures = dict[tuple[str, str], float]


def _day_figures(uow: UnitOfWork, day: date) -> Figures:
    """Every figure of one day, read in the caller's transaction."""
    start, end = trends.day_bounds(day)
    out: Figures = {}
    for row in uow.trends.submissions_by_kind_and_route(start=start, end=end):
        out[("submissions", f"{row['kind']}/{row['route']}")] = float(row["n"])
    for row in uow.trends.decisions_by_path_and_outcome(start=start, end=end):
        out[("decisions", f"{row['path']}/{row['outcome']}")] = float(row["n"])
    for row in uow.trends.layer_a_blocks_by_category(start=start, end=end):
        out[("layer_a_blocks", str(row["category"]))] = float(row["n"])
    out[("layer_a_blocks", "total")] = float(uow.trends.layer_a_blocks_total(start=start, end=end))

    scores = []
    for row in uow.trends.compliance_inputs(since=end - timedelta(days=trends.COMPLIANCE_WINDOW_DAYS), until=end):
        counts = compliance.ComplianceCounts(
            layer_a_blocks=int(row["layer_a_blocks"]), admin_overturns=int(row["admin_overturns"]),
            flags=sum(1 for verdict in row["flagged"] if compliance.counts_as_flag(verdict)),
        )
        scores.append(compliance.score(counts))
    distribution = trends.score_distribution(scores)
    if distribution is not None:
        out.update({("compliance", name): value for name, value in distribution.figures().items()})

    checks = uow.trends.spot_check_agreement(start=start, end=end)
    out[("spot_checks", "completed")] = float(checks["completed"])
    out[("spot_checks", "agreed")] = float(checks["agreed"])
    agreement = trends.share(checks["agreed"], checks["completed"])
    if agreement is not None:
        out[("spot_checks", "agreement")] = agreement

    money = uow.trends.economy_day(start=start, end=end)
    if money is not None:
        faucet, sink = int(money["faucet"]), int(money["sink"])
        out[("economy", "faucet")] = faucet / MILLI
        out[("economy", "sink")] = sink / MILLI
        ratio = economy.faucet_sink_ratio(faucet, sink)
        if ratio is not None:
            out[("economy", "ratio")] = float(ratio)
        if money["agents_total"]:
            out[("economy", "hardship_rate")] = float(
                economy.hardship_rate(int(money["hardship_agents"]), int(money["agents_total"])))

    tiers: dict[str, int] = {"apprentice": 0, "journeyman": 0, "expert": 0}
    for row in uow.trends.validator_pool(end=end):
        changes = [(_instant(c[0]), str(c[1]), str(c[2])) for c in row["changes"]]
        tier = trends.tier_at(end, str(row["tier"]), changes)
        tiers[tier] = tiers.get(tier, 0) + 1
    out.update({("validator_pool", tier): float(n) for tier, n in tiers.items()})
    out[("validator_pool", "total")] = float(sum(tiers.values()))
    return out


def _instant(raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def aggregate_day(uow: UnitOfWork, day: date, now: datetime | None = None) -> int:
    """Use case: compute one whole day's figures and store them in place of any earlier ones (one
    transaction: readers see the old figures or the new, never a mix). Returns how many were written."""
    now = now or uow.clock.now()
    if day >= now.date():
        raise ValidationFailed("only a day that is over can be aggregated", details={"day": day.isoformat()})
    with uow:
        uow.trends.lock_day(day)
        written = uow.trends.replace_day(day, _day_figures(uow, day), computed_at=now)
    return written


def aggregate_due_days(uow: UnitOfWork, now: datetime | None = None) -> dict[str, Any]:
    """The daily job: aggregate every whole day not done yet (yesterday, and any day a missed run left
    behind), oldest first, each in its own transaction; a crash part-way leaves whole days done."""
    now = now or uow.clock.now()
    with uow:
        last = uow.trends.last_done_day()
        earliest = uow.trends.earliest_data_day() if last is None else None
    days = trends.days_to_aggregate(last, now.date(), earliest=earliest)
    for day in days:
        aggregate_day(uow, day, now)
    return {"days": len(days), "first": days[0].isoformat() if days else None,
            "last": days[-1].isoformat() if days else None}


@dataclass(frozen=True)
class TrendSeries:
    metric: str
    series: str
    points: list[tuple[date, float]]


@dataclass(frozen=True)
class TrendsReport:
    start: date
    end: date
    metrics: tuple[str, ...]
    days_done: list[date]
    series: list[TrendSeries]


def read_trends(uow: UnitOfWork, *, start: date, end: date, metric: str | None,
                today: date | None = None) -> TrendsReport:
    """Use case: the stored figures of [start, end] (at most a year), grouped into series; a day
    that was not aggregated has no point (the caller sees which days are done)."""
    today = today or uow.clock.now().date()
    try:
        trends.check_range(start, end, today=today)
    except trends.RangeError as exc:
        raise ValidationFailed(str(exc), details={"from": start.isoformat(), "to": end.isoformat()}) from exc
    with uow:
        rows = uow.trends.figures(start=start, end=end, metric=metric)
        done = [r["day"] for r in uow.trends.days_done(start=start, end=end)]
    grouped: dict[tuple[str, str], list[tuple[date, float]]] = {}
    for row in rows:
        grouped.setdefault((row["metric"], row["series"]), []).append((row["day"], float(row["value"])))
    metrics = (metric,) if metric else trends.METRICS
    series = [TrendSeries(m, s, points) for (m, s), points in sorted(grouped.items())]
    return TrendsReport(start=start, end=end, metrics=tuple(metrics), days_done=done, series=series)


def figures_of(report: TrendsReport) -> Mapping[str, Any]:
    """The report as plain data (what the route answers)."""
    return {
        "from": report.start, "to": report.end, "metrics": list(report.metrics), "days_done": report.days_done,
        "series": [{"metric": s.metric, "series": s.series,
                    "points": [{"day": d, "value": v} for d, v in s.points]} for s in report.series],
    }
