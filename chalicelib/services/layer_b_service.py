"""Use cases around the Layer B classifier: the daily budget, the result cache and the cost record of
every call; and the per-domain decision thresholds operators may override.

A classification takes up to two short transactions around the model call (which may take
seconds and holds no lock): the first consults the cache and the budget, the second records the
call, its cost and the cache entry, and raises the budget alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.layer_b import (
    BUDGET_EXHAUSTED,
    CACHE_TTL,
    DEFAULT_THRESHOLDS,
    DOMAINS,
    PURPOSE_GUARDRAIL,
    ZERO_USAGE,
    Assessment,
    BudgetStatus,
    Classifier,
    ClassifierInput,
    ClassifierResult,
    ThresholdsInForce,
    budget_day,
    cache_key,
    check_domain,
    check_purpose,
    classifier_identity,
    domains_to_consult,
    effective_thresholds,
    spend_shard,
    threshold_values,
    thresholds_from,
    validate_thresholds,
)
from chalicelib.observability import logger, metrics
from chalicelib.services.unit_of_work import UnitOfWork

# --- budget ---------------------------------------------------------------------------------


def budget_status(uow: UnitOfWork, now: datetime) -> BudgetStatus:
    """Today's spend and budget."""
    day = budget_day(now)
    row = uow.layer_b.spend_of(day)
    budget_cents = int(uow.flags.current()["LAYER_B_DAILY_BUDGET_CENTS"])
    return BudgetStatus(
        day=day, budget_cents=budget_cents,
        spent_usd_micros=int(row["cost_usd_micros"]) if row else 0, calls=int(row["calls"]) if row else 0,
    )


def is_budget_exhausted(uow: UnitOfWork, now: datetime) -> bool:
    """Whether today's budget is spent (raises the exhaustion alert once a day when it is)."""
    status = budget_status(uow, now)
    if status.exhausted:
        _alert_exhausted(uow, status, now)
    return status.exhausted


# --- classification -------------------------------------------------------------------------


def classify_for_guardrail(
    uow: UnitOfWork, submission: Mapping[str, Any], classifier: Classifier, *, now: datetime | None = None
) -> ClassifierResult:
    """Layer B for the guardrail stage: cached, budgeted and recorded (purpose ``guardrail``)."""
    return classify_submission(uow, submission, classifier, purpose=PURPOSE_GUARDRAIL, now=now)


def classify_submission(
    uow: UnitOfWork, submission: Mapping[str, Any],
    classifier: Classifier,
    *,
    purpose: str,
    use_cache: bool = True,
    now: datetime | None = None,
) -> ClassifierResult:
    """Classify one submission row, within the daily budget, reusing a fresh cached assessment.

    Guarantees:
    - a cache hit (same normalised content, classifier and model, less than an hour old) makes no
      call, costs nothing and says ``cached`` in the result;
    - when today's budget is spent no call is made: the result has no assessment and its error
      starts with ``budget_exhausted``, so the caller sends the content to human review;
    - every outcome is recorded in ``layer_b_calls`` with its tokens and cost; real calls add to
      the day's spend, and 80 % and 100 % of the budget each raise one alert per day.
    """
    check_purpose(purpose)
    submission_id = submission.get("id")
    sub_id = submission_id if isinstance(submission_id, UUID) else None
    item = ClassifierInput(
        kind=str(submission["kind"]), title=str(submission["title"]), body=str(submission["body"]),
        domain=submission.get("domain"),
    )
    name, model = classifier_identity(classifier)
    key = cache_key(item)
    started = now or uow.clock.now()

    with uow:
        if use_cache:
            hit = _cached(uow, key, name, model, started)
            if hit is not None:
                result = ClassifierResult(
                    assessment=hit, classifier=name, model=model, usage=ZERO_USAGE, cost_usd_micros=0,
                    attempts=0, latency_ms=0, error=None, cached=True,
                )
                uow.layer_b.record_call(submission_id=sub_id, purpose=purpose, outcome="cache_hit",
                                         result=result, now=started)
                metrics.add_metric(name="LayerBCacheHits", unit="Count", value=1)
                return result
        status = budget_status(uow, started)
        if status.exhausted:
            result = ClassifierResult(
                assessment=None, classifier=name, model=model, usage=ZERO_USAGE, cost_usd_micros=0,
                attempts=0, latency_ms=0,
                error=f"{BUDGET_EXHAUSTED}: today's Layer B budget of {status.budget_cents} cents is spent;"
                " no call was made",
            )
            uow.layer_b.record_call(submission_id=sub_id, purpose=purpose, outcome=BUDGET_EXHAUSTED,
                                     result=result, now=started)
            _alert_exhausted(uow, status, started)
            metrics.add_metric(name="LayerBBudgetExhausted", unit="Count", value=1)
            return result

    result = classifier.classify(item)

    finished = now or uow.clock.now()
    with uow:
        record_call(uow, submission_id=sub_id, purpose=purpose, result=result, now=finished)
        if result.assessment is not None:
            uow.layer_b.cache_put(key, name, model, result.assessment.model_dump(mode="json"),
                                   now=finished, expires_at=finished + CACHE_TTL)
            uow.layer_b.purge_expired_cache(finished)
    return result


def record_call(
    uow: UnitOfWork, *, submission_id: UUID | None, purpose: str, result: ClassifierResult,
    batch: bool = False, now: datetime,
) -> BudgetStatus:
    """Record a real call (one Messages call, or one Message Batches result) and add its cost to
    today's spend; raises the 80 % and exhaustion alerts, once a day each. Returns the new status.

    The cost goes to one of SPEND_SHARDS rows of the day (by the call's id), so concurrent callers
    do not queue on one row; the status sums the shards. The budget is checked before a call and
    the call is not locked against others, so the day may overrun its budget by at most one call
    per caller running at once (each saw the budget not yet spent when it began)."""
    check_purpose(purpose)
    call_id = uow.layer_b.record_call(submission_id=submission_id, purpose=purpose, outcome="called",
                                      result=result, batch=batch, now=now)
    day = uow.layer_b.add_spend(budget_day(now), result.cost_usd_micros, spend_shard(call_id))
    status = BudgetStatus(
        day=day["day"], budget_cents=int(uow.flags.current()["LAYER_B_DAILY_BUDGET_CENTS"]),
        spent_usd_micros=int(day["cost_usd_micros"]), calls=int(day["calls"]),
    )
    if status.alert_due and uow.layer_b.mark_day(status.day, "alerted_80_at", now):
        _raise_alert(uow, rule="layer_b_budget_80", severity="warning",
            title="Layer B spend reached 80 % of the daily budget",
            details=status.to_dict(), dedup_key=f"layer_b_budget_80:{status.day.isoformat()}", now=now,
        )
    if status.exhausted:
        _alert_exhausted(uow, status, now)
    usage = result.usage
    tokens = (usage.input_tokens + usage.output_tokens + usage.cache_creation_input_tokens
              + usage.cache_read_input_tokens)
    metrics.add_metric(name="LayerBTokens", unit="Count", value=tokens)
    if status.budget_cents > 0:
        used_pct = 100 * status.spent_usd_micros / status.budget_usd_micros
        metrics.add_metric(name="LayerBBudgetUsedPct", unit="Percent", value=round(used_pct, 2))
    return status


def _cached(uow: UnitOfWork, key: str, classifier: str, model: str, now: datetime) -> Assessment | None:
    raw = uow.layer_b.cache_get(key, classifier, model, now)
    if raw is None:
        return None
    try:
        return Assessment.model_validate(raw)
    except ValidationError:
        # An entry written under an older schema is a miss, not an error.
        logger.warning("layer_b_cache_entry_invalid", extra={"cache_key": key})
        return None


def _alert_exhausted(uow: UnitOfWork, status: BudgetStatus, now: datetime) -> None:
    if uow.layer_b.mark_day(status.day, "exhausted_at", now):
        _raise_alert(uow, rule="layer_b_budget_exhausted", severity="critical",
            title="Layer B daily budget spent: new content goes to human review",
            details=status.to_dict(), dedup_key=f"layer_b_budget_exhausted:{status.day.isoformat()}", now=now,
        )


def _raise_alert(
    uow: UnitOfWork, *, rule: str, severity: str, title: str, details: dict[str, Any], dedup_key: str,
    now: datetime,
) -> None:

    logger.warning("layer_b_budget_alert", extra={"rule": rule, **details})
    uow.alerts.raise_alert(rule=rule, severity=severity, title=title, details=details, dedup_key=dedup_key,
                            now=now)


# --- thresholds -----------------------------------------------------------------------------


def thresholds_in_force(
    uow: UnitOfWork, declared_domain: object, assessment: Assessment | None
) -> ThresholdsInForce:
    """The thresholds for a submission: the overrides of its declared domain and of the domain
    Layer B found, the stricter of the two where both exist, the defaults where neither does.

    Taking the stricter means declaring a domain with looser thresholds gains an agent nothing.
    """
    domains = domains_to_consult(declared_domain, assessment)
    if not domains:
        return ThresholdsInForce(DEFAULT_THRESHOLDS, ())
    overrides = uow.layer_b.threshold_overrides(domains)
    return effective_thresholds(domains, {d: thresholds_from(row) for d, row in overrides.items()})


def list_thresholds(uow: UnitOfWork) -> dict[str, Any]:
    """The defaults and, per domain, the thresholds in force and the override if any."""
    with uow:
        overrides = uow.layer_b.threshold_overrides()
    rows = []
    for domain in DOMAINS:
        row = overrides.get(domain)
        rows.append({
            "domain": domain,
            "overridden": row is not None,
            **threshold_values(thresholds_from(row) if row else DEFAULT_THRESHOLDS),
            "updated_by": row["updated_by"] if row else None,
            "updated_at": row["updated_at"] if row else None,
        })
    return {"defaults": threshold_values(DEFAULT_THRESHOLDS), "domains": rows}


def set_threshold_override(
    uow: UnitOfWork, domain: str, values: Mapping[str, float], *, actor: str, reason: str, now: datetime | None = None
) -> dict[str, Any]:
    """Create or replace the override of one domain, audited (who, when, old, new, why)."""
    check_domain(domain)
    thresholds = validate_thresholds(values)
    now = now or uow.clock.now()
    new = threshold_values(thresholds)
    with uow:
        old_row = uow.layer_b.threshold_override(domain, for_update=True)
        row = uow.layer_b.put_threshold_override(domain, new, actor=actor, now=now)
        uow.layer_b.add_threshold_change(domain, old=threshold_values(thresholds_from(old_row)) if old_row else None,
                                          new=new, reason=reason, actor=actor, now=now)
    logger.info("layer_b_thresholds_set", extra={"domain": domain, "actor": actor, **new})
    return {"domain": domain, "overridden": True, **new, "updated_by": row["updated_by"],
            "updated_at": row["updated_at"]}


def remove_threshold_override(uow: UnitOfWork, domain: str, *, actor: str, reason: str,
                              now: datetime | None = None) -> dict[str, Any]:
    """Drop a domain's override so the defaults apply again (audited); NotFound if there is none."""
    check_domain(domain)
    now = now or uow.clock.now()
    with uow:
        old_row = uow.layer_b.threshold_override(domain, for_update=True)
        if old_row is None:
            raise NotFound(f"no threshold override for {domain}", details={"domain": domain})
        uow.layer_b.delete_threshold_override(domain)
        uow.layer_b.add_threshold_change(domain, old=threshold_values(thresholds_from(old_row)), new=None,
                                          reason=reason, actor=actor, now=now)
    logger.info("layer_b_thresholds_removed", extra={"domain": domain, "actor": actor})
    return {"domain": domain, "overridden": False, **threshold_values(DEFAULT_THRESHOLDS), "updated_by": None,
            "updated_at": None}


def threshold_changes(
    uow: UnitOfWork, *, domain: str | None, limit: int, before: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    """The audit of threshold overrides, newest first."""
    if domain is not None:
        check_domain(domain)
    if before is not None and not before[1].isdigit():
        raise ValidationFailed("cursor is not valid", details=[{"field": "cursor", "message": "malformed cursor"}])
    with uow:
        return uow.layer_b.threshold_changes(domain=domain, limit=limit, before=before)


def usage_summary(uow: UnitOfWork, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Today's budget status, spend per day over the last ``days`` days and outcome counts."""
    now = now or uow.clock.now()
    since_day = budget_day(now) - timedelta(days=days - 1)
    with uow:
        status = budget_status(uow, now)
        history = uow.layer_b.spend_days(since_day)
        outcomes = uow.layer_b.outcome_counts(datetime.combine(since_day, datetime.min.time(), UTC))
    return {
        "today": status.to_dict(),
        "days": [{"day": r["day"].isoformat(), "spent_usd_micros": int(r["cost_usd_micros"]),
                  "calls": int(r["calls"]), "alerted_80_at": r["alerted_80_at"],
                  "exhausted_at": r["exhausted_at"]} for r in history],
        "outcomes": {k: outcomes.get(k, 0) for k in ("called", "cache_hit", BUDGET_EXHAUSTED)},
    }
