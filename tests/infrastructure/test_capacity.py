"""Reserved concurrency comes from one formula (infra/capacity.py) and keeps the functions' connections
within what the database (behind RDS Proxy) accepts, whatever every function does at once."""

from __future__ import annotations

from typing import Any

import pytest

from infra.capacity import (
    FIXED_ONE_EACH,
    SHARES,
    SMALL_WORKERS,
    STAGES,
    UNRESERVED,
    client_connections,
    configured,
    connection_budget,
    max_connections,
    reserved_concurrency,
)
from tests.infrastructure.templates import resources_of_type, sqs_sources


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_config_holds_what_the_formula_gives(stage: str) -> None:
    reserved, pool = configured(stage)
    assert reserved == reserved_concurrency(STAGES[stage])
    assert pool == STAGES[stage].pool_size
    assert 1 <= pool <= 2  # one request or record at a time per instance: more would idle


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_function_at_full_concurrency_fits_the_connection_budget(stage: str) -> None:
    plan = STAGES[stage]
    reserved = reserved_concurrency(plan)
    assert client_connections(plan, reserved) <= connection_budget(plan) < max_connections(plan.instance_class)
    assert sum(reserved.values()) <= plan.account_concurrency - UNRESERVED


@pytest.mark.parametrize("instance_class", ["db.t4g.micro", "db.r6g.large", "db.r6g.xlarge", "db.r6g.8xlarge"])
def test_the_formula_holds_for_every_class_we_plan_with(instance_class: str) -> None:
    for account in (1000, 5000, 50_000):
        plan = STAGES["prod"].__class__(instance_class, pool_size=2, account_concurrency=account)
        reserved = reserved_concurrency(plan)
        assert set(reserved) == set(SHARES) | set(FIXED_ONE_EACH) | set(SMALL_WORKERS)
        assert client_connections(plan, reserved) <= connection_budget(plan)
        assert sum(reserved.values()) <= account - UNRESERVED
        assert all(reserved[name] >= 2 for name in SHARES)  # SQS MaximumConcurrency's minimum


def test_every_function_is_reserved_and_every_queue_poller_stays_within_it(app_template: dict[str, Any]) -> None:
    functions = resources_of_type(app_template, "AWS::Serverless::Function")
    reserved = {name: f["Properties"].get("ReservedConcurrentExecutions") for name, f in functions.items()}
    assert None not in reserved.values(), reserved
    for name, properties, _ in sqs_sources(app_template):
        function = name.split("/")[0]
        assert properties["ScalingConfig"] == {"MaximumConcurrency": reserved[function]}
