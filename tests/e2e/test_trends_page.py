"""An operator reads ninety days of trends on the operators' page in headless Chromium: the daily job
has aggregated the history, the trends section draws its charts for 7, 30 and 90 days, and a
screenshot of the section lands in build/trends.png (docs/img/trends.png is one of these).

Needs Debian's chromium and chromium-driver (`make test` installs them); skipped without them.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.services import trends as trend_service
from tests.e2e.test_dashboard import CHROMEDRIVER, CHROMIUM, browser, server, wait_for
from tests.e2e.test_local_server import ROOT

pytestmark = pytest.mark.e2e
__all__ = ["server"]  # the local server fixture of the dashboard story

SCREENSHOT = ROOT / "build" / "trends.png"
DAYS = 90

HISTORY = """
INSERT INTO agents (id, kind, name, owner_id, created_at)
SELECT ('00000000-0000-0000-0000-' || lpad(a::text, 12, '0'))::uuid, 'agent', 'agent ' || a, gen_random_uuid(),
       now() - interval '120 days'
FROM generate_series(1, 40) AS a;

-- submissions: a weekly rhythm and slow growth; a share blocked by Layer A, the rest through Layer B or peers
INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, route_path,
                         created_at, decided_at)
SELECT gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad((1 + (d * 7 + i) % 40)::text, 12, '0'))::uuid,
       (ARRAY['problem', 'solution', 'debate'])[1 + i % 3], 'Title ' || i, 'Body ' || i, md5(d || '-' || i),
       CASE WHEN i % 17 = 0 THEN 'rejected' WHEN i % 9 = 0 THEN 'flagged' ELSE 'approved' END,
       CASE WHEN i % 17 = 0 THEN 'layer_a' WHEN i % 3 = 0 THEN 'layer_b' ELSE 'peer' END,
       CASE WHEN i % 17 = 0 THEN NULL WHEN i % 3 = 0 THEN 'layer_b' ELSE 'peer' END,
       date_trunc('day', now()) - (d || ' days')::interval + (i * 7 || ' minutes')::interval,
       date_trunc('day', now()) - (d || ' days')::interval + (i * 7 + 3 || ' minutes')::interval
FROM generate_series(1, %(days)s) AS d,
     generate_series(1, 40 + (%(days)s - d) / 3 + 15 * (CASE WHEN d % 7 IN (0, 6) THEN 0 ELSE 1 END)) AS i;

INSERT INTO decision_trail (submission_id, stage, verdict, created_at)
SELECT id, 'layer_a', jsonb_build_object('blocked', true, 'categories',
       jsonb_build_array((ARRAY['violence', 'spam', 'harassment'])[1 + abs(hashtext(id::text)) % 3])), created_at
FROM submissions WHERE decided_by = 'layer_a';

INSERT INTO consensus_decisions (submission_id, mode, status, layer_b_decision, layer_b_valid, assigned, opened_at,
                                 expires_at, outcome, decided_at)
SELECT id, 'live', 'decided', 'approved', true, 3, created_at, decided_at, 'approved', decided_at
FROM submissions WHERE decided_by = 'peer' AND abs(hashtext(id::text)) % 10 = 0;

INSERT INTO spot_checks (submission_id, peer_outcome, status, layer_b_decision, agrees, disagreement, completed_at)
SELECT submission_id, 'approved', 'completed', CASE WHEN abs(hashtext(submission_id::text)) % 12 = 0
       THEN 'rejected' ELSE 'approved' END, abs(hashtext(submission_id::text)) % 12 <> 0,
       CASE WHEN abs(hashtext(submission_id::text)) % 12 = 0 THEN 'false_negative' END, decided_at + interval '1 hour'
FROM consensus_decisions;

INSERT INTO economy_snapshots (window_start, window_end, faucet, starter_grants, sink, ratio, ratio_state,
                               active_agents, agents_total, hardship_agents, hardship_rate, median_balance,
                               circulating, total_validators)
SELECT w - interval '1 hour', w, f, 0, 10000, f / 10000.0, 'defined', 30, 40, 2 + d % 5, (2 + d % 5) / 40.0,
       42000, 900000, 12
FROM (SELECT d, date_trunc('day', now()) - (d || ' days')::interval + interval '12 hours' AS w,
             8500 + 250 * (d % 11) AS f FROM generate_series(1, %(days)s) AS d) AS s;

INSERT INTO validators (agent_id, tier, joined_at)
SELECT id, CASE WHEN n <= 6 THEN 'expert' WHEN n <= 16 THEN 'journeyman' ELSE 'apprentice' END,
       now() - ((100 - n * 2) || ' days')::interval
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM agents) AS a WHERE n <= 30;

INSERT INTO validator_tier_changes (agent_id, old_tier, new_tier, f1_score, scored_evaluations, reason, created_at)
SELECT agent_id, 'journeyman', 'expert', 0.93, 210, 'promotion', now() - ((n * 9) || ' days')::interval
FROM (SELECT agent_id, row_number() OVER (ORDER BY agent_id) AS n FROM validators WHERE tier = 'expert') AS v;
"""


@pytest.fixture(autouse=True)
def small_export_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server below answers an export of more than 1 KiB with a job (5 MiB in a deployment), so the
    page's download goes the way a large export goes: 202, the job polled, its file fetched."""
    monkeypatch.setenv("EXPORT_JOB_THRESHOLD_BYTES", "1024")


def seed_trends(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(HISTORY.replace("%(days)s", str(DAYS)).encode())  # several statements, no parameters


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian's chromium and chromium-driver (make test installs them)")
def test_an_operator_reads_ninety_days_of_trends_on_the_page(server: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # Given ninety days of history, aggregated day by day (the server's own daily job may already have
    # run on the empty database at start: a re-run replaces each day's figures)
    seed_trends(server["db"])
    today = datetime.now(UTC).date()
    for back in range(DAYS, 0, -1):
        trend_service.aggregate_day(bootstrap.unit_of_work(), today - timedelta(days=back))

    # When the operator opens the page and picks 90 days
    driver = browser()
    try:
        driver.set_window_size(1400, 2600)
        driver.get(server["base"] + "/admin")
        driver.find_element(By.ID, "key").send_keys(server["admin"])
        driver.find_element(By.ID, "open").click()
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-trends") == "true")
        for days in ("7", "30", "90"):
            Select(driver.find_element(By.ID, "trend-days")).select_by_value(days)
            wait_for(driver, lambda d, n=days: d.find_element(By.ID, "trend-status").text.startswith(f"{n} of {n}"))

        # Then every trends chart is drawn
        for chart in ("trend-submissions", "trend-decisions", "trend-blocks", "trend-compliance",
                      "trend-agreement", "trend-economy", "trend-pool"):
            assert driver.find_elements(By.CSS_SELECTOR, f"#{chart} canvas"), chart
        section = driver.find_element(By.ID, "trends")
        driver.execute_script("arguments[0].scrollIntoView()", section)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        section.screenshot(str(SCREENSHOT))
        if os.environ.get("TRENDS_SCREENSHOT_TO_DOCS"):
            shutil.copy(SCREENSHOT, ROOT / "docs" / "img" / "trends.png")

        # And exporting the 90 days of decisions, too large to answer at once, goes through a job
        Select(driver.find_element(By.ID, "export-kind")).select_by_value("decisions")
        driver.find_element(By.CSS_SELECTOR, "#export-kind ~ button[type=submit]").click()
        wait_for(driver, lambda d: d.find_element(By.ID, "export-status").text.startswith(
            ("downloaded", "Could not")), timeout=120)
        status = driver.find_element(By.ID, "export-status").text
        assert re.fullmatch(r"downloaded decisions \(\S+ to \S+, [1-9]\d* rows\)", status), status
    finally:
        driver.quit()
    assert SCREENSHOT.stat().st_size > 10_000
