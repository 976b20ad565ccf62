"""Reserved concurrency of every function, from one formula (docs/scaling.md, "Database connections").

    python -m infra.capacity [--stage dev|prod]      # the table, and whether .chalice/config.json agrees

Every Lambda instance holds its own connection pool (DB_POOL_MAX_SIZE), so the database sees at most
sum over functions of (concurrency x pool size) client connections. RDS Proxy multiplexes them onto fewer
database connections, but only while no session is pinned; the budget below holds even if every session
were pinned, so the database never refuses a connection whatever the functions do:

    fixed      = sum over schedules and the migration of 1 x pool      (reserved concurrency 1 each)
               + sum over the small workers of 2 x pool                (privacy requests, deliveries)
               + privacy MaximumConcurrency x its pool                 (infra/privacy-function.yaml)
    budget     = floor(max_connections x 0.90) - OPERATOR_CONNECTIONS - fixed
                 (0.90: the proxy's MaxConnectionsPercent; max_connections: RDS PostgreSQL's default,
                 LEAST(DBInstanceClassMemory / 9531392, 5000), DBInstanceClassMemory ~ 90 % of the class)
    instances  = min(budget / pool, ACCOUNT_CONCURRENCY - 100 - fixed instances)
                 (Lambda keeps 100 of the account's concurrency unreserved)
    reserved_f = max(2, floor(SHARE_f x instances))   for the API handler and the three SQS workers

The SQS event sources get MaximumConcurrency = the worker's reservation (infra/package.py): the poller
then never invokes more than the reservation, so messages wait in the queue instead of being throttled
back (and counted towards the dead-letter queue's maxReceiveCount).

SHARE_f follows the demand of docs/scaling.md (Little's law, concurrency = arrivals x duration): the
guardrail worker waits on Layer B for every submission, the API answers about seven short requests per
peer-path submission, the consensus worker runs once per decision, spot checks for 5 % of them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

from chalicelib.entrypoints.schedules import JOBS
from infra import ROOT

CONFIG = ROOT / ".chalice" / "config.json"
MAX_CONNECTIONS_PERCENT = 90  # infra/database.yaml ProxyTargetGroup
OPERATOR_CONNECTIONS = 5  # psql sessions, the migration run by hand, monitoring
UNRESERVED = 100  # Lambda refuses reservations that leave less than this for the rest of the account
SHARES: dict[str, float] = {
    "api_handler": 0.30,
    "guardrail_worker": 0.50,
    "consensus_worker": 0.12,
    "spot_check_worker": 0.05,
}
# Schedules and the migration: one at a time is what they need (and no overlap). The schedules come from
# their one list (chalicelib/entrypoints/schedules.py), so a new job cannot miss its reservation.
FIXED_ONE_EACH: tuple[str, ...] = ("migrate", *(job.name for job in JOBS))
# Queues whose traffic does not grow with submissions (data-subject requests, partner deliveries, export
# jobs): the SQS poller's minimum MaximumConcurrency (2) is all they need.
SMALL_WORKERS: dict[str, int] = {"privacy_request_worker": 2, "delivery_worker": 2, "export_job_worker": 2}
PRIVACY_MAXIMUM_CONCURRENCY = 10  # infra/privacy-function.yaml MaximumConcurrency default
PRIVACY_POOL = 1

# Memory of the instance classes we plan with (GiB).
INSTANCE_MEMORY_GIB: dict[str, int] = {
    "db.t4g.micro": 1, "db.t4g.medium": 4, "db.r6g.large": 16, "db.r6g.xlarge": 32, "db.r6g.2xlarge": 64,
    "db.r6g.4xlarge": 128, "db.r6g.8xlarge": 256, "db.r6g.16xlarge": 512,
}


@dataclass(frozen=True)
class StagePlan:
    instance_class: str
    pool_size: int  # DB_POOL_MAX_SIZE of the stage
    account_concurrency: int  # the account's Lambda concurrency limit in the region


# What each stage is deployed with (docs/deploy.md parameters; docs/scaling.md for the larger shapes).
STAGES: dict[str, StagePlan] = {
    "dev": StagePlan("db.t4g.micro", pool_size=2, account_concurrency=1000),
    "prod": StagePlan("db.r6g.xlarge", pool_size=2, account_concurrency=1000),
}


def max_connections(instance_class: str) -> int:
    """RDS PostgreSQL's default max_connections for the class (check with SHOW max_connections)."""
    memory = INSTANCE_MEMORY_GIB[instance_class] * 2**30 * 0.9
    return min(int(memory // 9_531_392), 5000)


def connection_budget(plan: StagePlan) -> int:
    return math.floor(max_connections(plan.instance_class) * MAX_CONNECTIONS_PERCENT / 100) - OPERATOR_CONNECTIONS


def fixed_connections(plan: StagePlan) -> int:
    return ((len(FIXED_ONE_EACH) + sum(SMALL_WORKERS.values())) * plan.pool_size
            + PRIVACY_MAXIMUM_CONCURRENCY * PRIVACY_POOL)


def reserved_concurrency(plan: StagePlan) -> dict[str, int]:
    """Reserved concurrency of every function of the Chalice app for this stage plan."""
    budget = connection_budget(plan) - fixed_connections(plan)
    fixed_instances = len(FIXED_ONE_EACH) + sum(SMALL_WORKERS.values()) + PRIVACY_MAXIMUM_CONCURRENCY
    instances = min(budget // plan.pool_size, plan.account_concurrency - UNRESERVED - fixed_instances)
    if instances < len(SHARES):
        raise ValueError(f"{plan.instance_class} leaves no connections for the functions")
    # At least 2: SQS pollers need MaximumConcurrency >= 2 (set to the reservation by infra/package.py)
    plan_out = {name: max(2, math.floor(share * instances)) for name, share in SHARES.items()}
    plan_out.update(dict.fromkeys(FIXED_ONE_EACH, 1))
    plan_out.update(SMALL_WORKERS)
    return plan_out


def client_connections(plan: StagePlan, reserved: dict[str, int]) -> int:
    """What the functions can open at most: sum of reserved concurrency x pool size, plus privacy."""
    return sum(reserved.values()) * plan.pool_size + PRIVACY_MAXIMUM_CONCURRENCY * PRIVACY_POOL


def configured(stage: str) -> tuple[dict[str, int], int]:
    """(reserved concurrency by function, DB_POOL_MAX_SIZE) as .chalice/config.json has them."""
    config: dict[str, Any] = json.loads(CONFIG.read_text())
    stage_config = config["stages"][stage]
    functions = stage_config.get("lambda_functions", {})
    reserved = {name: int(settings["reserved_concurrency"]) for name, settings in functions.items()
                if "reserved_concurrency" in settings}
    return reserved, int(stage_config["environment_variables"]["DB_POOL_MAX_SIZE"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=sorted(STAGES), default=None)
    args = parser.parse_args(argv)
    mismatches = 0
    for stage in [args.stage] if args.stage else sorted(STAGES):
        plan = STAGES[stage]
        reserved = reserved_concurrency(plan)
        have, pool = configured(stage)
        print(f"{stage}: {plan.instance_class}, max_connections {max_connections(plan.instance_class)}, "
              f"budget {connection_budget(plan)}, pool {plan.pool_size} (config {pool}), "
              f"client connections at most {client_connections(plan, reserved)}")
        for name, value in reserved.items():
            flag = "" if have.get(name) == value else f"   <- config.json has {have.get(name)}"
            mismatches += bool(flag)
            print(f"  {name:24} {value:5}{flag}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
