"""Peer validation reports: shadow agreement, collusive pairs, the production-shift decision gates."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from chalicelib.domain import collusion, gates
from chalicelib.domain.economy import HARDSHIP_THRESHOLD
from chalicelib.services.unit_of_work import UnitOfWork


def shadow_report(uow: UnitOfWork, *, days: int = 7, now: datetime | None = None) -> dict[str, Any]:
    now = now or uow.clock.now()
    with uow:
        agreements, comparisons = uow.evaluations.shadow_agreement(now - timedelta(days=days))
        rows = uow.evaluations.shadow_matrix(now - timedelta(days=days))
    return {
        "days": days, "comparisons": comparisons, "agreements": agreements,
        "agreement": agreements / comparisons if comparisons else None,
        "matrix": [{"consensus": r["consensus_outcome"], "layer_b": r["layer_b_decision"], "count": int(r["n"]),
                    "agree": int(r["agree"])} for r in rows],
    }


def collusion_report(uow: UnitOfWork, *, days: int, against_truth: bool, now: datetime | None = None) -> dict[str, Any]:
    """Validator pairs agreeing on more than 90 % of 20+ shared reviews in the window (the rule of
    domain/collusion.py, counted in the database), the worst 1000 at most: ``truncated`` says that
    more pairs qualified.

    ``against_truth``: count only the shared reviews with a ground truth where at least one of the
    pair was wrong (honest, accurate validators agree often; they rarely err together).
    """
    now = now or uow.clock.now()
    since = now - timedelta(days=days)
    with uow:
        uow.repeatable_read()  # the count and the pairs from one view
        reviews = uow.evaluations.answered_since(since)
        rows = uow.evaluations.collusive_pairs(
            since, against_truth=against_truth, min_shared=collusion.MIN_SHARED_REVIEWS,
            threshold=collusion.AGREEMENT_THRESHOLD, limit=collusion.MAX_PAIRS + 1)
    return {
        "days": days, "against_truth": against_truth, "reviews": reviews,
        "min_shared": collusion.MIN_SHARED_REVIEWS, "threshold": collusion.AGREEMENT_THRESHOLD,
        "pairs": [{"a": r["a"], "b": r["b"], "shared": int(r["shared"]), "agreement": float(r["agreement"])}
                  for r in rows[:collusion.MAX_PAIRS]],
        "truncated": len(rows) > collusion.MAX_PAIRS, "max_pairs": collusion.MAX_PAIRS,
    }


def _economy(uow: UnitOfWork, now: datetime) -> tuple[list[Fraction | None], str]:
    """From the hourly economy snapshots: the day's last faucet/sink ratio for each of the last 7
    days (newest first; None for a day without one, or an idle day).

    A day whose faucet paid out while nothing was sunk has no finite ratio and counts as out of
    range. Without the snapshots table (or rows) the economy is unknown, never "in range".
    """
    rows = uow.economy.daily_ratios(now - timedelta(days=gates.WINDOW_DAYS))
    if rows is None:
        return [None] * gates.WINDOW_DAYS, "no economy snapshots table"
    by_day: dict[Any, Fraction | None] = {}
    for r in rows:
        if r["ratio_state"] == "defined":
            by_day[r["day"]] = Fraction(str(r["ratio"]))
        elif r["ratio_state"] == "no_sink":
            by_day[r["day"]] = gates.NO_SINK
        else:
            by_day[r["day"]] = None
    ratios = [by_day.get((now - timedelta(days=offset)).date()) for offset in range(gates.WINDOW_DAYS)]
    return ratios, f"{len(by_day)} of {gates.WINDOW_DAYS} days with an economy snapshot"


def decision_gates(uow: UnitOfWork, *, now: datetime | None = None) -> dict[str, Any]:
    """The production-shift gates and seed 001's go/no-go, computed from the data now."""
    now = now or uow.clock.now()
    window_start = now - timedelta(days=gates.WINDOW_DAYS)
    with uow:
        flags = uow.flags.load()
        pool = uow.validators.count()
        quality = uow.validators.pool_quality()
        spot = uow.spot_checks.stats(window_start)
        rounds = uow.evaluations.consensus_stats(window_start)
        agreements, comparisons = uow.evaluations.shadow_agreement(window_start)
        ratios, economy_source = _economy(uow, now)
        # Hardship now, counted as the economy snapshots count it: AI agents' balances below 10 credits.
        hardship = uow.economy.hardship_now(HARDSHIP_THRESHOLD)
        dead = {"n": uow.outbox.dead_since(window_start)}
    first = spot["first_completed"]
    days_covered = 0.0 if first is None else min(gates.WINDOW_DAYS, (now - first).total_seconds() / 86_400)
    latencies = rounds["latencies_ms"]
    report = gates.GateReport((
        gates.traffic_gate(int(flags["PEER_VALIDATION_TRAFFIC_PCT"])),
        gates.false_negative_gate(int(spot["confirmed_false_negative"]), int(spot["completed"]), days_covered),
        gates.economy_gate(ratios),
        gates.pool_gate(pool["active"]),
        gates.consensus_latency_gate(gates.percentile(latencies, 95), len(latencies)),
        gates.hardship_gate(int(hardship["poor"]), int(hardship["agents"])),
    ))
    answered, expired = quality["answered"], quality["expired"]
    verdict = gates.go_no_go(
        agreements=agreements, comparisons=comparisons,
        average_f1=None if quality["avg_f1"] is None else Fraction(str(quality["avg_f1"])),
        response_rate=gates.rate(answered, answered + expired),
        quorum_timeouts=rounds["timeouts"], consensus_rounds=rounds["rounds"],
        active_validators=pool["active"], dead_letters=int(dead["n"]),
    )
    return {
        "computed_at": now, "window_days": gates.WINDOW_DAYS, **report.to_dict(), "go_no_go": verdict.to_dict(),
        "figures": {
            "traffic_pct": flags["PEER_VALIDATION_TRAFFIC_PCT"], "peer_validation_enabled":
                flags["PEER_VALIDATION_ENABLED"], "pool": pool, "shadow_agreements": agreements,
            "shadow_comparisons": comparisons, "consensus_rounds": rounds["rounds"],
            "quorum_timeouts": rounds["timeouts"], "consensus_p50_ms": gates.percentile(latencies, 50),
            "consensus_p95_ms": gates.percentile(latencies, 95), "decided_by": rounds["by_decided_by"],
            "spot_checks_completed": int(spot["completed"]),
            "false_negatives": int(spot["confirmed_false_negative"]), "economy": economy_source,
            "average_f1": quality["avg_f1"], "answered_7d": answered, "expired_7d": expired,
        },
    }
