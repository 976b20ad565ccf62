"""Seed a database to production-like volume with COPY: the growth benchmark's data set.

Usage: python -m bench.seed_growth [--scale 1.0] [--database peerguard_growth] [--days 90] [--seed 15]

At ``--scale 1`` (about 8 minutes on two loaded cores): 100 k agents (20 % of them validators),
1 M submissions, 6 M evaluations, about 10 M journal legs, and in proportion the decision trail,
consensus decisions, processed messages, the (sent) outbox, Layer B calls, spot checks, review
items, alerts with their notifications, job runs and hourly economy snapshots. ``--scale 0.01`` is
the small form the tests use.

Distributions: agents join over the whole period and submit from joining on, so volume grows
toward the present; who submits is skewed (agent rank ``N * u**2.5``: the busiest 1 % of agents
write about a sixth of everything), validators are asked with a milder skew. Submissions of the
last ten minutes are still pending, with their evaluations open.

The ledger is real double-entry: a starter grant per agent, a fee per submission, a reward per
answered evaluation, each entry two legs that sum to zero, each account's legs chained
(balance_before = previous balance_after, in id order, which is time order) and every stored
balance equal to the sum of its legs, so ``verify_ledger`` holds at any scale.

Rows go in with COPY into the migrated schema with triggers and foreign-key checks off for the
session (``session_replication_role = replica``); secondary indexes are dropped before the load and
rebuilt after it, then the tables are analysed. The database is dropped and recreated each run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.domain.ledger import FAUCET, sink_for

DATABASE = "peerguard_growth"
KINDS = np.array(["problem", "solution", "debate"])
DOMAINS = np.array(["clean_water_sanitation", "education_access", "food_security", "health_access",
                    "digital_inclusion", "climate_adaptation", "housing", "public_safety"])
BODY = ("Residents report {what}; volunteers propose a plan with a budget, a schedule and a survey of the "
        "families it serves, with photos before and after. Reference {n}.")
WHAT = ["a broken water pump", "no reading tutors", "an empty food bank", "a clinic without a nurse",
        "no internet at the library", "flooded streets", "unsafe housing", "no street lights"]
GRANT = 100_000  # millicredits
FEE = 1_000
REWARD = 200
CHUNK = 50_000
JOBS = ["sweep_outbox", "purge_rate_limit_windows", "resolve_evaluation_timeouts", "poll_spot_check_batches",
        "reset_validator_quotas", "backfill_validators", "run_alert_engine", "snapshot_economy"]


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random version-4-shaped UUIDs as 32-hex strings (PostgreSQL reads them without dashes)."""
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    return np.array([f"{a:016x}{b:016x}" for a, b in raw])


def ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def tss(epochs: np.ndarray) -> np.ndarray:
    """Many epoch seconds as ISO timestamps at once (vectorised: the per-row formatting is the bottleneck)."""
    micros = (np.asarray(epochs, dtype=np.float64) * 1e6).astype("datetime64[us]")
    return np.char.add(np.datetime_as_string(micros, unit="us"), "+00:00")


def copy(conn: psycopg.Connection[Any], table: str, columns: str, lines: Iterable[str]) -> int:
    """COPY text lines (tab-separated, already escaped) into table(columns), in chunks."""
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= CHUNK:
                cp.write("\n".join(buf) + "\n")
                n += len(buf)
                buf.clear()
        if buf:
            cp.write("\n".join(buf) + "\n")
            n += len(buf)
    return n


def jtext(value: object) -> str:
    """A JSON value for COPY's text format (backslashes doubled)."""
    return json.dumps(value, separators=(",", ":")).replace("\\", "\\\\")


class Seeder:
    def __init__(self, conn: psycopg.Connection[Any], scale: float, days: int, seed: int) -> None:
        self.conn = conn
        self.rng = np.random.default_rng(seed)
        self.now = time.time()
        self.start = self.now - days * 86400
        self.n_agents = max(50, int(100_000 * scale))
        self.n_subs = max(500, int(1_000_000 * scale))
        self.n_validators = max(12, self.n_agents // 5)
        self.counts: dict[str, int] = {}
        self.timings: dict[str, float] = {}

    def timed(self, name: str, rows: int, t0: float) -> None:
        self.counts[name] = self.counts.get(name, 0) + rows
        self.timings[name] = round(self.timings.get(name, 0.0) + time.monotonic() - t0, 1)
        sys.stdout.write(f"  {name}: {rows} rows in {time.monotonic() - t0:.1f} s\n")
        sys.stdout.flush()

    def run(self) -> None:
        rng = self.rng
        # --- agents, validators ---------------------------------------------------------------
        na, ns, nv = self.n_agents, self.n_subs, self.n_validators
        self.agent_ids = uuids(rng, na)
        # joined over the period, more of them recently (growth): the square root of a uniform
        self.agent_t = np.sort(self.start + (self.now - self.start - 3600) * np.sqrt(rng.random(na)))
        kinds = np.where(rng.random(na) < 0.9, "agent", "human")
        validator_idx = np.sort(rng.choice(np.arange(na)[kinds == "agent"], size=nv, replace=False))
        t0 = time.monotonic()
        n = copy(self.conn, "agents", "id, kind, name, description, owner_id, status, approvals_count, created_at",
                 (f"{self.agent_ids[i]}\t{kinds[i]}\tagent-{i}\t\t{self.agent_ids[i]}\t"
                  f"{'suspended' if i % 997 == 0 else 'active'}\t{i % 40}\t{ts(self.agent_t[i])}" for i in range(na)))
        self.timed("agents", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "api_keys", "id, prefix, key_hash, role, agent_id, label, created_at",
                 (f"{u}\t{u[:12]}\t\\\\x{u}{u}\t{'human' if kinds[i] == 'human' else 'agent'}\t{self.agent_ids[i]}"
                  f"\tdefault\t{ts(self.agent_t[i])}" for i, u in enumerate(uuids(rng, na))))
        self.timed("api_keys", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "validators", "agent_id, tier, f1_score, precision_score, recall_score, "
                 "scored_evaluations, response_rate, joined_at, tier_changed_at, updated_at",
                 (f"{self.agent_ids[i]}\t{('apprentice', 'journeyman', 'expert')[k % 3]}\t0.8\t0.8\t0.8\t{k % 300}"
                  f"\t0.9\t{ts(self.agent_t[i])}\t{ts(self.agent_t[i])}\t{ts(self.agent_t[i])}"
                  for k, i in enumerate(validator_idx)))
        self.timed("validators", n, t0)

        # --- submissions ----------------------------------------------------------------------
        author = np.minimum((na * rng.random(ns) ** 2.5).astype(np.int64), na - 1)
        # an agent submits from joining on
        sub_t = self.agent_t[author] + rng.random(ns) * (self.now - self.agent_t[author])
        order = np.argsort(sub_t)
        author, sub_t = author[order], sub_t[order]
        sub_ids = uuids(rng, ns)
        pending = sub_t > self.now - 600
        verdict = rng.choice(np.array(["approved", "rejected", "flagged"]), size=ns, p=[0.82, 0.13, 0.05])
        status = np.where(pending, "pending", verdict)
        decided_by = np.where(pending, "\\N", np.where(rng.random(ns) < 0.92, "peer", "fallback"))
        decided_t = sub_t + rng.exponential(40.0, ns) + 2
        kind = KINDS[rng.integers(0, 3, ns)]
        dom = rng.integers(0, len(DOMAINS), ns)
        t_sub, t_decided = tss(sub_t).tolist(), tss(decided_t).tolist()
        decided = np.nonzero(~pending)[0]
        flagged = np.nonzero(status == "flagged")[0]
        # Python lists: indexing numpy arrays one element at a time is what makes row loops slow
        sids, pend, stat, dby = sub_ids.tolist(), pending.tolist(), status.tolist(), decided_by.tolist()
        kinds_l, dom_l, sub_tl, dec_tl = kind.tolist(), dom.tolist(), sub_t.tolist(), decided_t.tolist()
        author_ids = self.agent_ids[author].tolist()
        t0 = time.monotonic()
        n = copy(self.conn, "submissions", "id, agent_id, kind, title, body, domain, content_hash, status, decided_by,"
                 " route_path, cost_millicredits, idempotency_key, created_at, decided_at",
                 (f"{sids[i]}\t{author_ids[i]}\t{kinds_l[i]}\t{WHAT[dom_l[i]].capitalize()} #{i}\t"
                  f"{BODY.format(what=WHAT[dom_l[i]], n=i)}\t{DOMAINS[dom_l[i]]}\t{sids[i]}\t{stat[i]}"
                  f"\t{dby[i]}"
                  f"\tpeer\t{FEE}\t{'k-' + sids[i][:20] if i % 3 == 0 else chr(92) + 'N'}\t{t_sub[i]}\t"
                  f"{chr(92) + 'N' if pend[i] else t_decided[i]}" for i in range(ns)))
        self.timed("submissions", n, t0)
        t0 = time.monotonic()
        stages = (("layer_a", '{"blocked":false,"categories":[]}', 0.0),
                  ("routing", '{"path":"peer","mode":"live"}', 1.0),
                  ("consensus", '{"outcome":"approved","votes":3}', 2.0))
        n = copy(self.conn, "decision_trail", "submission_id, stage, verdict, created_at",
                 (f"{sids[i]}\t{stage}\t{verdict_json}\t{ts(sub_tl[i] + dt)}"
                  for i in range(ns) for stage, verdict_json, dt in stages
                  if stage != "consensus" or not pend[i]))
        self.timed("decision_trail", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "consensus_decisions", "submission_id, mode, status, layer_b_decision, layer_b_valid,"
                 " assigned, opened_at, expires_at, quorum_reached_at, cause, outcome, votes, applied_verdict,"
                 " decided_by, decided_at, latency_ms, spot_checked",
                 ((f"{sids[i]}\tlive\topen\tapproved\ttrue\t6\t{ts(sub_tl[i] + 1)}\t{ts(sub_tl[i] + 86400)}"
                   "\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tfalse") if pend[i] else
                  (f"{sids[i]}\tlive\tdecided\tapproved\ttrue\t6\t{ts(sub_tl[i] + 1)}\t{ts(sub_tl[i] + 86400)}"
                   f"\t{t_decided[i]}\tquorum\t{'approved' if stat[i] == 'approved' else 'rejected'}\t3"
                   f"\t{stat[i]}\t{dby[i]}\t{t_decided[i]}\t{int((dec_tl[i] - sub_tl[i]) * 100) % 60000}"
                   f"\t{'true' if i % 20 == 0 else 'false'}") for i in range(ns)))
        self.timed("consensus_decisions", n, t0)

        # --- evaluations: 6 per submission, distinct validators ----------------------------------
        base = np.minimum((nv * rng.random(ns) ** 1.5).astype(np.int64), nv - 1)
        stride = max(1, nv // 7)
        j = np.arange(6)
        slot = (base[:, None] + j[None, :] * stride) % nv  # (ns, 6) distinct validators per submission
        answered = (~pending)[:, None] & ((j[None, :] < 3) | ((j[None, :] == 3) & (rng.random(ns) < 0.9)[:, None]))
        responded = np.minimum(decided_t[:, None] - 0.5, sub_t[:, None] + 6 + j[None, :] * 7)
        vids = self.agent_ids[validator_idx]
        eval_ids = uuids(rng, ns * 6).tolist()
        t_assigned, t_expires = tss(sub_t + 1).tolist(), tss(sub_t + 86401).tolist()
        t_responded = tss(responded.ravel()).reshape(ns, 6).tolist()
        slot_ids, answered_l = vids[slot].tolist(), answered.tolist()

        def evaluations() -> Iterator[str]:
            for i in range(ns):
                common = "\tlive\tjourneyman\t"
                for k in range(6):
                    head = f"{eval_ids[i * 6 + k]}\t{sids[i]}\t{slot_ids[i][k]}{common}"
                    if pend[i]:
                        yield head + f"pending\t{t_assigned[i]}\t{t_expires[i]}" + "\t\\N" * 10
                    elif answered_l[i][k]:
                        yield (head + f"answered\t{t_assigned[i]}\t{t_expires[i]}\tapprove\t0.9\tok\tfalse"
                               f"\t{t_responded[i][k]}\t{t_decided[i]}\t{stat[i]}\tlayer_b\t{t_decided[i]}"
                               f"\t{REWARD}")
                    else:
                        st = "expired" if k == 5 and i % 20 == 0 else "cancelled"
                        yield (head + f"{st}\t{t_assigned[i]}\t{t_expires[i]}" + "\t\\N" * 5
                               + f"\t{t_decided[i]}" + "\t\\N" * 4)

        t0 = time.monotonic()
        n = copy(self.conn, "evaluations", "id, submission_id, validator_id, mode, tier_at_assignment, status,"
                 " assigned_at, expires_at, decision, confidence, reasoning, safety_flagged, responded_at, closed_at,"
                 " truth, truth_source, scored_at, reward_millicredits", evaluations())
        self.timed("evaluations", n, t0)
        reward_t = responded[answered]
        reward_agent = validator_idx[slot[answered]]

        # --- the ledger ---------------------------------------------------------------------------
        t0 = time.monotonic()
        self.ledger(author, sub_t, sub_ids, reward_t, reward_agent)
        self.timed("ledger (total)", 0, t0)

        # --- messages, Layer B, spot checks, reviews ------------------------------------------------
        t0 = time.monotonic()
        n = copy(self.conn, "processed_messages", "consumer, message_key, processed_at",
                 (f"{consumer}\t{consumer}:{sids[i]}\t{ts(sub_tl[i] + dt)}"
                  for i in range(ns) for consumer, dt in (("guardrail", 0.5), ("consensus", 30.0))
                  if consumer == "guardrail" or not pend[i]))
        self.timed("processed_messages", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "outbox", "topic, payload, created_at, available_at, sent_at, attempts",
                 (f"{topic}\t{{\"submission_id\":\"{sids[i]}\"}}\t{ts(sub_tl[i] + dt)}\t{ts(sub_tl[i] + dt)}"
                  f"\t{ts(sub_tl[i] + dt + 0.2)}\t1"
                  for i in range(ns) for topic, dt in (("guardrail", 0.0), ("consensus", 29.0))
                  if topic == "guardrail" or not pend[i]))
        self.timed("outbox", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "layer_b_calls", "submission_id, purpose, outcome, classifier, model, input_tokens,"
                 " output_tokens, cost_usd_micros, attempts, latency_ms, created_at",
                 (f"{sids[i]}\tguardrail\t{'cache_hit' if i % 9 == 0 else 'called'}\toffline\toffline-1"
                  f"\t900\t120\t{0 if i % 9 == 0 else 1500}\t1\t{40 + i % 300}\t{t_sub[i]}" for i in range(ns)))
        self.timed("layer_b_calls", n, t0)
        spot = decided[decided % 20 == 0]
        t0 = time.monotonic()
        n = copy(self.conn, "spot_checks", "submission_id, peer_outcome, status, layer_b_decision, agrees,"
                 " disagreement, created_at, completed_at",
                 (f"{sids[i]}\t{'approved' if stat[i] == 'approved' else 'rejected'}\tcompleted\t"
                  f"{'approved' if stat[i] == 'approved' else 'rejected'}\t{'false' if i % 200 == 0 else 'true'}"
                  f"\t{'false_negative' if i % 200 == 0 else chr(92) + 'N'}\t{t_decided[i]}\t{ts(dec_tl[i] + 3600)}"
                  for i in spot.tolist()))
        self.timed("spot_checks", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "review_items", "id, subject_type, subject_id, source, reason, priority, status,"
                 " resolved_by, resolved_at, created_at, dedup_key",
                 (f"{rid}\tsubmission\t{sids[i]}\tpeer\tflagged by peers\t{i % 3}\t"
                  f"{'pending' if sub_tl[i] > self.now - 3 * 86400 else 'reviewed'}\t"
                  f"{chr(92) + 'N' if sub_tl[i] > self.now - 3 * 86400 else 'admin'}\t"
                  f"{chr(92) + 'N' if sub_tl[i] > self.now - 3 * 86400 else ts(dec_tl[i] + 7200)}\t"
                  f"{t_decided[i]}\tsubmission:{sids[i]}"
                  for rid, i in zip(uuids(rng, len(flagged)).tolist(), flagged.tolist(), strict=True)))
        self.timed("review_items", n, t0)
        self.operations()

    def ledger(self, author: np.ndarray, sub_t: np.ndarray, sub_ids: np.ndarray, reward_t: np.ndarray,
               reward_agent: np.ndarray) -> None:
        """Grants, fees and rewards in time order; legs chained per account; balances = sum of legs."""
        na = self.n_agents
        fees_per_agent = np.bincount(author, minlength=na) * FEE
        grant = np.maximum(GRANT, fees_per_agent + GRANT)  # a heavy author was topped up at joining
        # one row per entry: time, kind code, agent index, amount (agent's side: + in, - out)
        n_g, n_f, n_r = na, len(author), len(reward_t)
        t = np.concatenate([self.agent_t, sub_t + 0.01, reward_t])
        kind = np.concatenate([np.zeros(n_g, np.int8), np.ones(n_f, np.int8), np.full(n_r, 2, np.int8)])
        agent = np.concatenate([np.arange(na), author, reward_agent.astype(np.int64)])
        amount = np.concatenate([grant, np.full(n_f, -FEE), np.full(n_r, REWARD)]).astype(np.int64)
        src = np.concatenate([np.arange(na), np.arange(n_f), np.arange(n_r)])  # index within its kind
        order = np.argsort(t, kind="stable")
        t, kind, agent, amount, src = t[order], kind[order], agent[order], amount[order], src[order]
        n_e = len(t)
        # accounts: the faucet and the sink's accounts come from the migrations (the one sink of old
        # and its 16 shards); each fee goes to the shard sink_for picks for its key; agents follow
        system_ids = {r[0]: int(r[1]) for r in self.conn.execute(
            "SELECT code, id FROM accounts WHERE kind = 'system'").fetchall()}
        base = max(system_ids.values()) + 1
        sub_hex = sub_ids.tolist()
        fee_acc = np.array([system_ids[sink_for(f"submission:{self._uuid(sub_hex[s])}")] for s in range(n_f)],
                           np.int64)
        agent_acc = agent + base
        system_acc = np.full(n_e, system_ids[FAUCET], np.int64)
        fees = kind == 1
        system_acc[fees] = fee_acc[src[fees]]
        # legs: entry k has legs 2k+1 (system side) and 2k+2 (agent side), ids in time order
        leg_acc = np.empty(2 * n_e, np.int64)
        leg_amt = np.empty(2 * n_e, np.int64)
        leg_acc[0::2], leg_acc[1::2] = system_acc, agent_acc
        leg_amt[0::2], leg_amt[1::2] = -amount, amount
        by_acc = np.argsort(leg_acc, kind="stable")
        sorted_acc = leg_acc[by_acc]
        running = np.cumsum(leg_amt[by_acc])
        starts = np.r_[0, np.nonzero(np.diff(sorted_acc))[0] + 1]
        offsets = np.repeat(np.r_[0, running[starts[1:] - 1]], np.diff(np.r_[starts, len(sorted_acc)]))
        after = np.empty(2 * n_e, np.int64)
        after[by_acc] = running - offsets
        before = after - leg_amt
        final = np.zeros(na + base, np.int64)
        np.add.at(final, leg_acc, leg_amt)
        t0 = time.monotonic()
        n = copy(self.conn, "accounts", "id, code, kind, agent_id, balance, created_at",
                 (f"{i + base}\tagent:{self._uuid(self.agent_ids[i])}\tagent\t{self.agent_ids[i]}"
                  f"\t{final[i + base]}\t{ts(self.agent_t[i])}" for i in range(na)))
        for account_id in system_ids.values():
            self.conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", (int(final[account_id]), account_id))
        self.conn.execute("SELECT setval('accounts_id_seq', %s)", (na + base,))
        self.timed("accounts", n, t0)
        names = ("starter_grant", "submission_fee", "validation_reward")

        kind_l, src_l, agent_hex = kind.tolist(), src.tolist(), self.agent_ids.tolist()

        def key(k: int) -> str:
            kd, s = kind_l[k], src_l[k]
            if kd == 0:
                return f"starter-grant:{self._uuid(agent_hex[s])}"
            if kd == 1:
                return f"submission:{self._uuid(sub_hex[s])}"
            return f"validation:r{s}"

        t_entry = tss(t).tolist()
        acc_l, amt_l, before_l, after_l = leg_acc.tolist(), leg_amt.tolist(), before.tolist(), after.tolist()
        t0 = time.monotonic()
        n = copy(self.conn, "journal_entries", "id, idempotency_key, kind, created_at",
                 (f"{k + 1}\t{key(k)}\t{names[kind_l[k]]}\t{t_entry[k]}" for k in range(n_e)))
        self.conn.execute("SELECT setval('journal_entries_id_seq', %s)", (n_e + 1,))
        self.timed("journal_entries", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "journal_legs",
                 "id, entry_id, account_id, amount, balance_before, balance_after, created_at",
                 (f"{j + 1}\t{j // 2 + 1}\t{acc_l[j]}\t{amt_l[j]}\t{before_l[j]}\t{after_l[j]}\t{t_entry[j // 2]}"
                  for j in range(2 * n_e)))
        self.conn.execute("SELECT setval('journal_legs_id_seq', %s)", (2 * n_e + 1,))
        self.timed("journal_legs", n, t0)

    @staticmethod
    def _uuid(hex32: str) -> str:
        return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"

    def operations(self) -> None:
        """Alerts, notifications, hourly snapshots and the scheduler's run log over the period."""
        rng = self.rng
        hours = int((self.now - self.start) // 3600)
        n_alerts = max(20, self.n_subs // 200)
        alert_ids = uuids(rng, n_alerts)
        alert_t = np.sort(self.start + rng.random(n_alerts) * (self.now - self.start))
        rules = ["economy_ratio_low", "outbox_backlog", "slow_query", "dlq_depth", "spot_check_disagreement"]
        t0 = time.monotonic()
        n = copy(self.conn, "alerts", "id, rule, severity, title, details, dedup_key, status, occurrences,"
                 " created_at, last_seen_at, resolved_at",
                 (f"{alert_ids[i]}\t{rules[i % 5]}\t{'critical' if i % 7 == 0 else 'warning'}\t{rules[i % 5]} #{i}"
                  f"\t{{}}\t{rules[i % 5]}:{i}\t{'open' if i >= n_alerts - 5 else 'resolved'}\t{1 + i % 4}"
                  f"\t{ts(alert_t[i])}\t{ts(alert_t[i] + 300)}\t"
                  f"{chr(92) + 'N' if i >= n_alerts - 5 else ts(alert_t[i] + 900)}" for i in range(n_alerts)))
        self.timed("alerts", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "alert_notifications", "alert_id, event, channel, status, attempts, rounds, created_at,"
                 " sent_at", (f"{alert_ids[i]}\traised\tlog\tsent\t1\t1\t{ts(alert_t[i])}\t{ts(alert_t[i] + 1)}"
                              for i in range(n_alerts)))
        self.timed("alert_notifications", n, t0)
        t0 = time.monotonic()
        n = copy(self.conn, "economy_snapshots", "window_start, window_end, faucet, starter_grants, sink, ratio,"
                 " ratio_state, active_agents, agents_total, hardship_agents, hardship_rate, median_balance,"
                 " circulating, total_validators, created_at",
                 (f"{ts(self.start + h * 3600)}\t{ts(self.start + (h + 1) * 3600)}\t90000\t200000\t100000\t0.9000"
                  f"\tdefined\t{300 + h % 50}\t{self.n_agents}\t3\t0.0100\t100000\t5000000\t{self.n_validators}"
                  f"\t{ts(self.start + (h + 1) * 3600 + 60)}" for h in range(hours)))
        self.timed("economy_snapshots", n, t0)
        # job runs: every job every minute for the last 7 days (older ones are purged by retention)
        minutes = 7 * 1440
        t0 = time.monotonic()
        n = copy(self.conn, "job_runs", "job, started_at, finished_at, ok, duration_ms",
                 (f"{job}\t{ts(self.now - (minutes - m) * 60)}\t{ts(self.now - (minutes - m) * 60 + 0.05)}\ttrue\t50"
                  for m in range(minutes) for job in JOBS))
        self.timed("job_runs", n, t0)


def secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of every index that backs no constraint, in the public schema."""
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public'"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
    return [(r[0], r[1]) for r in rows]


def seed(scale: float = 1.0, database_name: str = DATABASE, days: int = 90, rng_seed: int = 15) -> dict[str, Any]:
    """Create ``database_name`` afresh, migrate it and fill it; returns counts and timings."""
    from chalicelib.db.migrate import migrate
    from local import database

    started = time.monotonic()
    url = database.create_scratch_database(database_name)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no triggers, no FK checks while loading
        conn.execute("SET maintenance_work_mem = '256MB'")
        indexes = secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        seeder = Seeder(conn, scale, days, rng_seed)
        seeder.run()
        t0 = time.monotonic()
        for _, definition in indexes:
            conn.execute(definition)
        seeder.timings["indexes"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        conn.execute("VACUUM (ANALYZE)")
        seeder.timings["vacuum analyze"] = round(time.monotonic() - t0, 1)
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return {"database": database_name, "url": url, "scale": scale, "rows": seeder.counts,
            "seconds": seeder.timings, "total_seconds": round(time.monotonic() - started, 1),
            "database_mb": round(int(size[0]) / 2**20) if size else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    result = seed(args.scale, args.database, args.days, args.seed)
    result.pop("url")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
