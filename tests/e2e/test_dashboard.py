"""An operator's story in a real browser: the local server runs, agents submit (some with personal
data in their text), the alert rules fire; the operator opens /admin in headless Chromium, enters the
admin key, reads the figures and charts, acknowledges an alert. A screenshot lands in build/.

The server's whole output is then scanned: no e-mail address, phone number or API key in any line.
Needs Debian's chromium and chromium-driver (`make test` installs them); skipped without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_server import ROOT, call, free_port
from tests.integration import alert_world as w

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = ROOT / "build" / "dashboard.png"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,2300"]

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
API_KEY = re.compile(r"pgk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
PHONE = re.compile(r"(?<![\w+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]\d{3,4}[ .-]\d{3,4}(?![\w-])")


@pytest.fixture
def server(db: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The local server with INFO logs captured to a file (read after it stops)."""
    port = free_port()
    log_file = tmp_path / "server.log"
    env = {**os.environ, "DATABASE_URL": db, "PORT": str(port), "POWERTOOLS_LOG_LEVEL": "INFO"}
    env.pop("ANTHROPIC_API_KEY", None)
    with log_file.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if call(base, "GET", "/v1/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail("server did not start: " + log_file.read_text())
        admin = subprocess.run([sys.executable, "-m", "local", "admin-key"], cwd=ROOT, env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        state: dict[str, Any] = {"base": base, "admin": admin, "log": log_file, "db": db}
        try:
            yield state
        finally:
            proc.send_signal(2)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def seed_history(db: str) -> None:
    """Figures for the charts: consensus rounds, spot checks and economy snapshots over the last day."""
    author = w.agent(db)
    now = datetime.now(UTC)
    for hour in range(12):
        for i in range(3):
            w.consensus_round(db, author, decided_at=now - timedelta(hours=hour, minutes=i * 7),
                              latency_ms=900 + 400 * i + 150 * hour)
    for day in range(5):
        for i in range(4):
            w.spot_check(db, author, completed_at=now - timedelta(days=day, hours=i),
                         disagreement="missed_flag" if (day + i) % 5 == 0 else None)
    for hour in range(24):
        end = (now - timedelta(hours=hour)).replace(minute=0, second=0, microsecond=0)
        faucet, sink = 9000 + 150 * (hour % 7), 10_000
        w.execute(db, "INSERT INTO economy_snapshots (window_start, window_end, faucet, starter_grants, sink,"
                      " ratio, ratio_state, active_agents, agents_total, hardship_agents, hardship_rate,"
                      " median_balance, circulating, total_validators)"
                      " VALUES (%s, %s, %s, 0, %s, %s, 'defined', 12, 20, 2, 0.1, 42000, 900000, 5)"
                      " ON CONFLICT (window_start, window_end) DO NOTHING",
                  end - timedelta(hours=1), end, faucet, sink, round(faucet / sink, 4))
    w.outbox_row(db, created_at=now - timedelta(minutes=15))  # a stuck message: the outbox_backlog alert


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"peerguard-chromium-{os.getpid()}-{time.time_ns()}"
    for flag in [*BROWSER_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def wait_for(driver: Any, predicate: Any, timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(predicate)


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian's chromium and chromium-driver (make test installs them)")
def test_an_operator_reads_the_dashboard_acknowledges_an_alert_and_no_log_line_holds_personal_data(
    server: dict[str, Any],
) -> None:
    from selenium.webdriver.common.by import By

    base, admin = server["base"], server["admin"]
    # Given agents who put personal data in their texts, and a day of history
    status, registered = call(base, "POST", "/v1/agents", {
        "name": "clinic-mapper", "description": "Contact me at jane.doe@example.org or +1 415-555-0100"})
    assert status == 201
    agent_key = registered["data"]["api_key"]
    for i in range(3):
        status, _ = call(base, "POST", "/v1/submissions", {
            "kind": "problem", "title": f"Clinic {i} without a ramp",
            "body": "Wheelchair users cannot enter the rural clinic. Call the nurse on (415) 555-0199 or write "
                    "to nurse.station@clinic.example.org; a ramp and handrails are needed for healthcare access.",
            "domain": "healthcare_improvement"}, key=agent_key)
        assert status == 201
    assert call(base, "GET", "/v1/agents/me", key="pgk_000000000000_" + "x" * 43)[0] == 401
    seed_history(server["db"])
    status, run = call(base, "POST", "/v1/admin/alerts/evaluate", key=admin)
    assert status == 200 and "outbox_backlog" in run["data"]["firing"]

    # When the operator opens the page and enters the admin key
    driver = browser()
    try:
        driver.get(base + "/admin")
        assert driver.title == "peerguard · operations"
        driver.find_element(By.ID, "key").send_keys(admin)
        driver.find_element(By.ID, "open").click()
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")

        # Then the figures and charts are there
        tiles = {t.get_attribute("id"): t.find_element(By.CLASS_NAME, "value").text
                 for t in driver.find_elements(By.CLASS_NAME, "tile")}
        rows = driver.find_elements(By.CSS_SELECTOR, "#alerts-body tr")
        # The seeded backlog fires; on a loaded machine the server's own scheduler may fire another
        # (a job running late): the tile counts what the table lists.
        assert tiles["tile-alerts"] == str(len(rows)) and len(rows) >= 1
        [backlog] = [row for row in rows if "outbox_backlog" in row.text]
        assert re.fullmatch(r"\d+(\.\d)? s / \d+(\.\d)? s|\d+ ms / \d+(\.\d)? s|\d+ ms / \d+ ms", tiles["tile-latency"])
        assert tiles["tile-spot"].endswith("%") and tiles["tile-economy"] not in ("", "–")
        for chart in ("chart-submissions", "chart-latency", "chart-spot", "chart-economy"):
            assert driver.find_elements(By.CSS_SELECTOR, f"#{chart} canvas"), chart
        routing = driver.find_element(By.ID, "routing").text
        assert "peer" in routing and "layer b" in routing.lower()
        assert "production shift" in driver.find_element(By.ID, "gates-verdict").text
        jobs = driver.find_element(By.ID, "jobs-body").text
        assert "alert_engine" in jobs and "outbox_sweep" in jobs

        # When the operator acknowledges the alert
        backlog.find_element(By.TAG_NAME, "button").click()
        wait_for(driver, lambda d: "acknowledged" in d.find_element(By.ID, "alerts-body").text)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        # A wrong key is refused and forgotten
        driver.find_element(By.ID, "forget").click()
        driver.find_element(By.ID, "key").send_keys(agent_key)
        driver.find_element(By.ID, "open").click()
        wait_for(driver, lambda d: "not an admin key" in d.find_element(By.ID, "status").text)
    finally:
        driver.quit()

    # Then the alert is acknowledged by an admin
    status, alerts = call(base, "GET", "/v1/admin/alerts?status=acknowledged", key=admin)
    assert [a["rule"] for a in alerts["data"]] == ["outbox_backlog"]
    assert SCREENSHOT.stat().st_size > 20_000

    # And no log line of the whole story holds an e-mail address, a phone number or an API key
    time.sleep(0.5)
    output = server["log"].read_text()
    json_lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(json_lines) >= 10
    assert any(line.get("correlation_id") for line in json_lines)
    leaks = [line for line in output.splitlines() if EMAIL.search(line) or API_KEY.search(line) or PHONE.search(line)]
    assert leaks == []
