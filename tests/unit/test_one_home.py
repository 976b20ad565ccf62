"""Numbers and rules that used to live in two places now have one home; these pin the copies that
drifted (or could) to it, so that changing the home changes every reader."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.db import timing
from chalicelib.domain import alert_rules, consensus, economy, flags, gates, hyperlocal, layer_b, routing
from chalicelib.domain.layer_a import model as layer_a
from chalicelib.services import evidence_upload, layer_b_service


def test_layer_b_asks_about_exactly_the_layer_a_catalogue() -> None:
    assert layer_b.FORBIDDEN_CATEGORIES is layer_a.CATEGORIES
    assert len(layer_b.FORBIDDEN_CATEGORIES) == 12


def test_operator_thresholds_are_checked_by_the_one_domain_rule() -> None:
    import inspect

    source = inspect.getsource(layer_b_service)
    assert "def validate_thresholds" not in source and "def stricter" not in source
    assert "THRESHOLD_NAMES =" not in source
    assert tuple(layer_b.Thresholds.__dataclass_fields__) == layer_b.THRESHOLD_NAMES


def test_the_economy_band_and_hardship_rate_of_the_gates_are_the_economy_s() -> None:
    assert (gates.ECONOMY_RATIO_MIN, gates.ECONOMY_RATIO_MAX) == (economy.RATIO_LOW, economy.RATIO_HIGH)
    assert gates.MAX_HARDSHIP_RATE is economy.HARDSHIP_ALERT_RATE


def test_the_consensus_p95_alert_and_gate_share_one_limit() -> None:
    assert alert_rules.CONSENSUS_P95_MAX_MS == gates.MAX_CONSENSUS_P95_MS


def test_the_slow_query_threshold_is_the_alert_rule_s_warning() -> None:
    default = Settings.model_fields["slow_query_ms"].default
    assert default == timing.DEFAULT_THRESHOLD_MS == alert_rules.SLOW_QUERY_WARN_MS


def test_the_validator_daily_quota_default_is_the_domain_s() -> None:
    assert Settings.model_fields["validator_daily_quota"].default == consensus.DAILY_QUOTA


def test_the_spot_check_share_flag_defaults_to_the_routing_share() -> None:
    assert flags.spec_for("SPOT_CHECK_PCT").default == routing.SPOT_CHECK_PCT


def test_the_privacy_retry_limit_lives_in_the_domain() -> None:
    assert evidence_upload.MAX_RETRIES == hyperlocal.MAX_RETRIES == 3


def test_the_export_job_threshold_and_part_size_live_in_the_domain() -> None:
    import inspect

    from chalicelib.adapters import export_store
    from chalicelib.domain import export_jobs

    assert Settings.model_fields["export_job_threshold_bytes"].default == export_jobs.JOB_THRESHOLD_BYTES
    assert "PART_BYTES =" not in inspect.getsource(export_store)


def test_no_adapter_or_service_defines_its_own_copy_of_a_domain_number() -> None:
    import inspect

    from chalicelib.adapters import evidence_repo, flags_repo, spot_checks_repo

    assert "CACHE_TTL_S =" not in inspect.getsource(flags_repo)
    assert "MAX_RETRIES =" not in inspect.getsource(evidence_repo)
    assert "OPEN_STATUSES =" not in inspect.getsource(spot_checks_repo)


def test_the_settings_module_is_the_only_reader_of_the_environment() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    reads = re.compile(r"\bos\.(environ|getenv|putenv)\b|\bfrom os import\b[^\n]*\b(environ|getenv)\b|\bgetenv\(")
    sources = [root / "app.py", *(root / "chalicelib").rglob("*.py"), *(root / "functions").rglob("*.py")]
    offenders = [f"{path.relative_to(root)}:{number}"
                 for path in sources if path != root / "chalicelib" / "config.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert len(sources) > 100 and offenders == []
    # The Lambda runtime's variable and Powertools' defaults are read and set in config.py alone.
    assert Settings.model_fields["aws_lambda_function_name"].default is None


def test_migration_021_makes_as_many_sink_accounts_and_spend_rows_as_the_domain_counts() -> None:
    from pathlib import Path

    from chalicelib.domain.layer_b import SPEND_SHARDS
    from chalicelib.domain.ledger import SINK, SINK_ACCOUNTS, SINK_SHARDS

    sql = (Path(__file__).resolve().parents[2] / "chalicelib/db/migrations/021_hot_rows.sql").read_text()
    assert f"SELECT '{SINK}:' || n, 'system' FROM generate_series(0, {SINK_ACCOUNTS - 1})" in sql
    assert SINK_SHARDS[-1] == f"{SINK}:{SINK_ACCOUNTS - 1}"
    assert f"CHECK (shard BETWEEN 0 AND {SPEND_SHARDS - 1})" in sql
