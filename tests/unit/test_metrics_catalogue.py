"""Metrics are defined once: every name the code emits is catalogued, every catalogued name is emitted
and charted on the dashboards it claims, the dashboards chart nothing else, and the monitoring stack is
rendered from the current dashboard sources."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.metrics_catalogue import CATALOGUE, DASHBOARDS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "chalicelib").rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py"))]
SEARCH_NAME = re.compile(r'MetricName=\\?"([A-Za-z0-9_]+)\\?"')


def _names_of(node: ast.expr, module: ast.Module) -> list[str] | None:
    """The metric names an argument can take: a literal, a conditional of literals, or a module-level dict
    of literals indexed; None when the scanner cannot tell (which the test refuses)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _names_of(node.body, module), _names_of(node.orelse, module)
        return None if a is None or b is None else a + b
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        for stmt in module.body:
            value: ast.expr | None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                targets, value = [stmt.target], stmt.value
            else:
                continue
            if any(isinstance(t, ast.Name) and t.id == node.value.id for t in targets) and isinstance(value, ast.Dict):
                values = [v.value for v in value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
                return values if len(values) == len(value.values) else None
    return None


def emitted_metrics() -> tuple[dict[str, set[tuple[str, ...]]], list[str]]:
    """{name: the keyword-dimension sets it is emitted with} and the calls the scanner could not read."""
    found: dict[str, set[tuple[str, ...]]] = {}
    unreadable: list[str] = []
    for path in SOURCES:
        module = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if callee not in ("add_metric", "emit", "single_metric"):
                continue
            name_arg = next((k.value for k in node.keywords if k.arg == "name"), node.args[0] if node.args else None)
            if name_arg is None:
                continue
            names = _names_of(name_arg, module)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if names is None:
                if path.name != "observability.py":  # the emitters themselves pass names through
                    unreadable.append(where)
                continue
            dims = tuple(sorted(k.arg for k in node.keywords if k.arg and k.arg[0].isupper()))
            dims = dims if callee == "emit" else ()
            for name in names:
                found.setdefault(name, set()).add(dims)
    return found, unreadable


def dashboard_metrics(body: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    """peerguard-namespace metric names a dashboard body charts, with the dimension names of each line."""
    found: dict[str, set[tuple[str, ...]]] = {}
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            head = row[0]
            if isinstance(head, dict):
                for name in SEARCH_NAME.findall(head.get("expression", "")):
                    dims = re.search(r"\{peerguard,([^}]*)\}", head["expression"])
                    found.setdefault(name, set()).add(tuple(sorted(
                        d for d in (dims.group(1).split(",") if dims else []) if d != "service")))
                continue
            if head != "peerguard":
                continue
            parts = [p for p in row if isinstance(p, str)]
            dimension_names = tuple(sorted(parts[2::2][1:]))  # after "service"
            assert parts[2] == "service" and parts[3] == "peerguard", row
            found.setdefault(parts[1], set()).add(dimension_names)
    return found


def load_dashboard(name: str) -> dict[str, Any]:
    from infra.dashboards import dashboard_body

    return dashboard_body(name)


def test_every_metric_the_code_emits_is_catalogued_and_every_catalogued_one_is_emitted() -> None:
    emitted, unreadable = emitted_metrics()
    assert unreadable == [], "metric names must be literals (or a module-level dict of literals)"
    assert set(emitted) - set(CATALOGUE) == set(), "emitted but not in chalicelib/metrics_catalogue.py"
    assert set(CATALOGUE) - set(emitted) == set(), "catalogued but emitted nowhere"


def test_dimensioned_metrics_are_emitted_with_exactly_their_catalogued_dimensions() -> None:
    emitted, _ = emitted_metrics()
    for name, variants in emitted.items():
        definition = CATALOGUE[name]
        expected = tuple(sorted(definition.dimensions))
        if definition.dimensions:
            assert variants == {expected}, f"{name} must be emitted through emit() with {expected}"
        else:
            assert variants == {()}, f"{name} takes no dimensions"


@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_each_dashboard_charts_exactly_the_metrics_that_claim_it(dashboard: str) -> None:
    charted = dashboard_metrics(load_dashboard(dashboard))
    claimed = {m.name for m in CATALOGUE.values() if dashboard in m.dashboards}
    assert set(charted) == claimed
    for name, dimension_sets in charted.items():
        assert dimension_sets == {tuple(sorted(CATALOGUE[name].dimensions))}, name


def test_every_catalogued_metric_is_on_a_dashboard() -> None:
    charted = set().union(*(dashboard_metrics(load_dashboard(d)) for d in DASHBOARDS))
    assert set(CATALOGUE) == charted


def test_alarms_watch_catalogued_metrics_and_point_to_a_runbook() -> None:
    from infra.dashboards import alarm_definitions

    for alarm in alarm_definitions():
        specs = [alarm["metric"]] if "metric" in alarm else list(alarm["metrics"].values())
        for spec in specs:
            if spec.get("namespace", "peerguard") == "peerguard":
                assert spec["name"] in CATALOGUE, alarm
        assert (ROOT / "docs" / "runbooks" / f"{alarm['rule']}.md").exists(), alarm["rule"]


def test_the_monitoring_stack_is_rendered_from_the_current_sources() -> None:
    from infra.dashboards import TEMPLATE, render, template

    assert TEMPLATE.read_text(encoding="utf-8") == render(), "run: python -m infra.dashboards"
    resources = template()["Resources"]
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(dashboards) == 4 and len(alarms) >= 15
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [
            {"Fn::ImportValue": {"Fn::Sub": "peerguard-${Stage}-AlertsTopicArn"}}]
    for resource in dashboards:
        body = resource["Properties"]["DashboardBody"]["Fn::Sub"].replace("${AWS::Region}", "eu-west-1")
        assert json.loads(body)["widgets"]


# --- emitting ----------------------------------------------------------------------------------------


def test_emit_refuses_unknown_names_and_wrong_dimensions() -> None:
    from chalicelib.observability import emit

    with pytest.raises(KeyError):
        emit("NoSuchMetric")
    with pytest.raises(ValueError):
        emit("Decisions")  # needs Path
    with pytest.raises(ValueError):
        emit("SpotChecks", Path="peer")


def test_dimensioned_metrics_are_written_as_one_emf_document_per_series(capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.observability import emit, flush

    flush()
    capsys.readouterr()
    emit("Decisions", Path="peer")
    emit("Decisions", Path="peer")
    emit("Decisions", Path="layer_b")
    emit("CreditsFaucet", 500, Kind="validation_reward")
    flush()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    by_series = {(d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
                  d.get("Path") or d.get("Kind")): d for d in documents}
    assert by_series[("Decisions", "peer")]["Decisions"] == [1.0, 1.0]
    assert by_series[("Decisions", "layer_b")]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "Path"]]
    assert by_series[("CreditsFaucet", "validation_reward")]["CreditsFaucet"] == [500.0]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "peerguard" for d in documents)


def test_disabled_metrics_write_no_line_of_either_kind(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """POWERTOOLS_METRICS_DISABLED (what `make bench` sets) silences plain and dimensioned metrics alike."""
    from chalicelib.observability import emit, flush

    flush()
    capsys.readouterr()
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    emit("Submissions", Kind="problem")
    emit("Decisions", Path="peer")
    emit("CreditsFaucet", 500, Kind="validation_reward")
    for _ in range(150):  # past Powertools' own flush at 100 values of one metric
        emit("SlowQueries")
    flush()
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    emit("Decisions", Path="peer")
    flush()
    assert '"Decisions":[1.0]' in capsys.readouterr().out


def test_the_bench_runner_turns_metrics_off_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.__main__ import bench_environment

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    assert bench_environment()["POWERTOOLS_METRICS_DISABLED"] == "true"
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    assert bench_environment()["POWERTOOLS_METRICS_DISABLED"] == "false"


def test_threads_emitting_and_flushing_at_once_write_whole_lines_and_lose_no_value(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The local server's consumers share one metric set: every document is one line of JSON (never
    two run together), and every value emitted is written exactly once, past the 100-value limit too."""
    import sys
    import threading

    from chalicelib.observability import emit, flush

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    flush()
    capsys.readouterr()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two writes, as on a busy server
    threads, per_thread = 8, 130
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for i in range(per_thread):
            emit("SlowQueries")
            emit("Decisions", Path="peer")
            if i % 7 == 0:
                flush()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    flush()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert all(len(d.get(name, [])) <= 100 for d in documents for name in ("SlowQueries", "Decisions"))
    assert sum(len(d.get("SlowQueries", [])) for d in documents) == threads * per_thread
    assert sum(len(d.get("Decisions", [])) for d in documents) == threads * per_thread
