"""The dashboard on a scale's published file, measured (never asserted).

- `explorer_query_ms_*`: the queries one explorer view makes (catalog, measures, regions,
  the metric's months, two series, the prefecture ranking, a prefecture's counties) on the
  published file through `dashboard.data`, repeated; median and slowest, in milliseconds.
- `value_lineage_ms_*`: "why is this number X?" (`dashboard.explain.explain`) on the published
  file — the facts of one value with their aggregate, their landing runs, the publish and the
  set-aside records — for every metric at the province, its largest prefecture and its
  largest county in its latest month; median and slowest, in milliseconds, and the most
  fact rows one value had (`value_lineage_max_facts`).
- `first_page_seconds`: a browser's first load of the overview after the server started
  (Streamlit's first script run included) until the nine cards are drawn;
  `first_page_warm_seconds` a second load; `explorer_page_seconds` the overview → explorer
  navigation until its charts are drawn. Chromium is Debian's (scripts/system_packages.sh);
  without it the browser numbers are reported missing, with the reason.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from deploy.local_stack.processes import free_port
from settings import REPO

METRIC = "mobile_museum_visitors"  # the largest metric by rows: visits at every county, every month
# without these Chromium tries the (closed) network and stalls; Playwright gives every
# launch a fresh --user-data-dir of its own (tests/dashboard/conftest.py uses the same)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'


def explorer_queries(published_db: Path, repeats: int = 20) -> dict:
    from dashboard import data

    reader = data.PublishedDatabase(published_db).current()
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        data.catalog(reader), data.measures(reader), data.regions(reader)
        months = data.months(reader, METRIC)
        data.series(reader, METRIC, data.PROVINCE), data.series(reader, METRIC, "420100")
        if months:
            data.by_region(reader, METRIC, months[-1], "prefecture")
            data.by_region(reader, METRIC, months[-1], "county", "420100")
        timings.append((time.perf_counter() - t0) * 1000)
    rows = reader.rows("select count(*) from metrics.plan_metric_values")[0][0]
    return {
        "explorer_query_ms_median": round(statistics.median(timings), 2),
        "explorer_query_ms_max": round(max(timings), 2),
        "published_rows": rows,
        "published_mb": round(published_db.stat().st_size / 2**20, 1),
    }


VALUES_SQL = """
with latest as (select metric_id, max(period_month) as m from metrics.plan_metric_values group by metric_id),
ranked as (
    select v.metric_id, v.region_code, v.period_month, v.region_level,
           row_number() over (partition by v.metric_id, v.region_level order by v.value desc, v.region_code) as k
    from metrics.plan_metric_values as v join latest as l on l.metric_id = v.metric_id and l.m = v.period_month
)
select metric_id, region_code, period_month from ranked where k = 1 order by all
"""


def value_lineage(published_db: Path, repeats: int = 3) -> dict:
    """The drill-down of one value ("why is this number X?"), timed over many values."""
    from dashboard import data, explain

    reader = data.PublishedDatabase(published_db).current()
    if not reader.has("metric_facts"):
        return {"value_lineage_error": "the published file has no metric_facts"}
    values = reader.rows(VALUES_SQL)
    timings, most = [], 0
    for _ in range(repeats):
        for metric_id, region, month in values:
            t0 = time.perf_counter()
            e = explain.explain(reader, metric_id, region, month)
            timings.append((time.perf_counter() - t0) * 1000)
            most = max(most, e.fact_rows if e else 0)
    return {
        "value_lineage_ms_median": round(statistics.median(timings), 2),
        "value_lineage_ms_max": round(max(timings), 2),
        "value_lineage_values": len(values),
        "value_lineage_max_facts": most,
    }


def browser_times(published_db: Path, log: Path) -> dict:
    import requests

    setup = subprocess.run(
        ["bash", str(REPO / "scripts" / "system_packages.sh"), "chromium", "fonts-noto-cjk"],
        capture_output=True,
        text=True,
    )
    if setup.returncode:
        return {"browser_error": f"chromium not available: {setup.stderr.strip()[-300:]}"}
    from playwright.sync_api import sync_playwright

    port = free_port()
    from settings import child_env

    env = child_env(without=("PLAN_METRICS",))
    # the dashboard reads <data>/published/plan_metrics.duckdb
    env["PLAN_METRICS_DATA_DIR"] = str(published_db.parent.parent)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", str(port), "--address", "127.0.0.1"],
        env=env,
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                return {"browser_error": f"the dashboard exited with {proc.returncode}; see {log}"}
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        server_start = time.perf_counter() - started
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def overview() -> float:
                t0 = time.perf_counter()
                page.goto(url + "/")
                page.wait_for_selector(
                    ".st-key-card-M09 [data-testid='stMetricValue'], .st-key-card-M09 p", timeout=120_000
                )
                page.wait_for_selector(READY, timeout=120_000)
                return time.perf_counter() - t0

            cold, warm = overview(), overview()
            t0 = time.perf_counter()
            page.locator('[data-testid="stSidebarNavLink"]').nth(1).click()
            page.wait_for_selector(".st-key-chart-ranking canvas, .st-key-chart-ranking svg", timeout=120_000)
            page.wait_for_selector(READY, timeout=120_000)
            explorer = time.perf_counter() - t0
            browser.close()
        return {
            "server_start_seconds": round(server_start, 2),
            "first_page_seconds": round(cold, 2),
            "first_page_warm_seconds": round(warm, 2),
            "explorer_page_seconds": round(explorer, 2),
        }
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def measure(published_db: Path, log: Path) -> dict:
    """Both measurements; an error is reported in the result, never raised (the bench goes on)."""
    result: dict = {}
    try:
        result.update(explorer_queries(published_db))
    except Exception as exc:  # a benchmark reports what failed and goes on
        result["query_error"] = repr(exc)[:500]
    try:
        result.update(value_lineage(published_db))
    except Exception as exc:  # likewise
        result["value_lineage_error"] = repr(exc)[:500]
    try:
        result.update(browser_times(published_db, log))
    except Exception as exc:  # likewise
        result["browser_error"] = repr(exc)[:500]
    return result
