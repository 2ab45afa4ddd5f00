"""The production deployment, run: docker-compose.yml as processes (deploy/local_stack) —
PostgreSQL and Redis installed from Debian and started on loopback with generated passwords,
Airflow with the CeleryExecutor and FAB's auth manager: api-server, scheduler, dag-processor,
triggerer, two workers on the default queue and the one DuckDB writer (queue duckdb_writer,
concurrency 1) — driven only through the REST API and Celery, against the simulator over HTTP.

One run serves the module (a small world of all five sources). In order:
1. The orders extract is sent to worker 1 (worker 2 stops consuming for a moment: Celery's
   cancel_consumer), and worker 1 is SIGKILLed with its whole process tree while the task is
   mid-extract (failpoint `mid_extract`, after the first page). The other extract DAGs are
   unpaused; the writer is SIGKILLed mid-load (failpoint `raw_inserted`: rows inserted, not
   committed) and restarted, as compose's `restart: always` would.
2. What Airflow 3.3 does about it (asserted below): the killed task stops heartbeating; after
   [scheduler] task_instance_heartbeat_timeout (60 s, deploy/airflow.env) the scheduler fails
   that try ("heartbeat timeout" in the event log) and, retries left, sets it up for retry; the
   retry runs on a live worker after the task's retry delay. Celery's acks late does not
   recover it: the dead worker's message stays unacknowledged in Redis until the visibility
   timeout (2 h) and, redelivered, is refused — the try it names is over.
3. transform_publish, triggered by the operator, publishes tables equal to the simulator's
   truth, nothing lost or duplicated; a planted defect then fails the quality gate and the
   alert arrives on a local HTTP endpoint through Apprise, its URL masked in every log.
4. Roles: the viewer may look but not trigger, clear or list connections; the operator may
   trigger and clear but not list connections.
5. Redelivering the dead workers' messages changes nothing; stopping leaves no process behind.
6. Access (issue 25), in Chromium through the TLS proxy (nginx, self-signed certificate): an
   anonymous visitor gets the login page of the UI and of the dashboard; a viewer uses the UI,
   reads and downloads from the dashboard and is refused the pre-check; a county reporter
   pre-checks a file of their county and is refused another county's; three wrong passwords
   lock an account for the dashboard and Airflow alike; the dashboard's audit log records each
   step; each component holds only its own secrets; the data folder is 0750/0640 with
   published/ for the readers group.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import psutil
import pytest

from deploy.local_stack.rest_api import RestApi
from deploy.local_stack.stack import ProdLocal
from simulator import truth
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from tests.conftest import Pipeline, assert_matches_truth
from tests.dashboard.conftest import browser_packages  # noqa: F401  (Chromium for the access walk)

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.browser, pytest.mark.timeout(1500)]

SEED, SCALE = 3, 0.1
CLOCK = "2021-09-30T23:59:59+08:00"
ORDERS = "extract_kechuang_orders"
OTHER_EXTRACTS = (
    "extract_scipop_platform",
    "extract_kechuang_roadshows",
    "extract_rural_centre_reports",
    "extract_plan_ledger",
)
EXTRACTS = (ORDERS, *OTHER_EXTRACTS)
TRANSFORM = "transform_publish"
ROLLBACK = "rollback_publish"
API_LOADS = {"extract_scipop_platform", "extract_kechuang_roadshows", ORDERS}  # raw_inserted lives in their load
WEBHOOK_TOKEN = "wh-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
HOST = socket.gethostname()


class Webhook:
    """A local HTTP endpoint recording the JSON POSTed to it (Apprise's json:// target)."""

    def __init__(self):
        self.received: list[dict] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.apprise_url = f"json://127.0.0.1:{self.server.server_port}/hooks/{WEBHOOK_TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(check, what: str, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(interval)


def finished_runs(api: RestApi, dag_id: str) -> list[dict] | None:
    """All runs of `dag_id` once every one is over and at least one succeeded (else None); a
    failed run fails the test with its task states."""
    runs = api.runs(dag_id)
    failed = [r for r in runs if r["state"] == "failed"]
    assert not failed, f"{dag_id} {failed[-1]['dag_run_id']} failed: " + str(
        {t: ti["state"] for t, ti in api.tis(dag_id, failed[-1]["dag_run_id"]).items()}
    )
    if runs and all(r["state"] in ("success", "failed") for r in runs) and any(r["state"] == "success" for r in runs):
        return runs
    return None


def running_ti(api: RestApi, dag_ids, task_id: str) -> tuple[str, str, dict] | None:
    for dag_id in dag_ids:
        for run in api.runs(dag_id):
            ti = api.tis(dag_id, run["dag_run_id"]).get(task_id)
            if ti and ti["state"] == "running":
                return dag_id, run["dag_run_id"], ti
    return None


def celery_control(prod: ProdLocal):
    from celery import Celery

    return Celery(broker=prod.broker_url()).control


def working_db_state(db: Path) -> dict:
    """What the working database holds per source: loaded manifests, raw rows, watermarks."""
    with duckdb.connect(str(db), read_only=True) as conn:
        manifests = conn.execute(
            "select source, count(*), sum(row_count) from meta.loaded_manifests group by 1"
        ).fetchall()
        tables = [
            t
            for (t,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        rows = {t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}
        orphans = {
            t: conn.execute(
                f"select count(*) from raw.{t} where _manifest_id not in (select manifest_id from meta.loaded_manifests)"
            ).fetchone()[0]
            for t in tables
            if "_manifest_id" in [c for (c,) in conn.execute(f"select column_name from (describe raw.{t})").fetchall()]
        }
        marks = conn.execute("select source, endpoint, watermark from meta.watermarks").fetchall()
    return {
        "manifests": {s: (n, r) for s, n, r in manifests},
        "rows": rows,
        "orphans": orphans,
        "watermarks": sorted(map(repr, marks)),
    }


def file_modes(prod: ProdLocal) -> dict:
    """What the pipeline wrote under its data folder: paths whose mode breaks the rules of
    warehouse/permissions.py (the drop folder aside: the senders', not the pipeline's), and the
    published folder's and file's group against the readers group."""
    import grp

    from warehouse.permissions import wrong_modes

    published = prod.data_dir / "published"
    return {
        "wrong": [w for w in wrong_modes(prod.data_dir) if f"{prod.incoming_dir}" not in w],
        "checked": sum(1 for _ in prod.data_dir.rglob("*")),
        "published_gids": {p.name: p.stat().st_gid for p in [published, *published.iterdir()]},
        "readers_gid": grp.getgrnam(prod.readers_group).gr_gid,
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_lines(path: Path, *needles: str) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if all(n in line for n in needles)]


@pytest.fixture(scope="module")
def run(tmp_path_factory, request):
    """Start the deployment and play the whole scenario once; tests assert what it recorded."""
    request.getfixturevalue("browser_packages")  # Chromium for the access walk, installed if missing
    base = tmp_path_factory.mktemp("prod")
    started = time.monotonic()
    rec: dict = {"timings": {}}
    mark = lambda label: rec["timings"].__setitem__(label, round(time.monotonic() - started, 1))  # noqa: E731
    worker_marker, writer_marker = base / "failpoint-worker", base / "failpoint-writer"
    webhook = Webhook()
    sim = SimulatorProcess(base / "sim", seed=SEED, scale=SCALE, clock=CLOCK, incoming=base / "prod/data/incoming")
    sim.start()
    prod = ProdLocal(
        base / "prod",
        {
            **sim.airflow_connections(),
            "AIRFLOW_CONN_PLAN_METRICS_ALERTS": json.dumps(
                {"conn_type": "apprise", "extra": {"config": [{"path": webhook.apprise_url}]}}
            ),
        },
        worker_env={
            "airflow-worker-1": {
                "PLAN_METRICS_FAILPOINT": "mid_extract",
                "PLAN_METRICS_FAILPOINT_FILE": str(worker_marker),
            },
            "airflow-writer": {
                "PLAN_METRICS_FAILPOINT": "raw_inserted",
                "PLAN_METRICS_FAILPOINT_FILE": str(writer_marker),
            },
        },
    )
    rec.update(prod=prod, sim=sim, webhook=webhook, pipeline=Pipeline(prod.data_dir, sim))
    try:
        prod.start()
        mark("deployment up")
        rec["startup"] = dict(prod.timings)
        admin = RestApi(prod.api_url, *prod.admin)
        for dag_id in (*EXTRACTS, TRANSFORM, ROLLBACK):
            wait_for(lambda d=dag_id: admin.request("GET", f"/api/v2/dags/{d}").ok, f"{dag_id} parsed", 180, 2)
        users = {}
        for username, role in (("operator", "User"), ("viewer", "Viewer")):
            users[username] = "pw-" + hashlib.sha256(f"{username}{time.time()}".encode()).hexdigest()[:20]
            r = admin.request(
                "POST",
                "/auth/fab/v1/users",
                json={
                    "username": username,
                    "email": f"{username}@example.org",
                    "first_name": username,
                    "last_name": "Test",
                    "roles": [{"name": role}],
                    "password": users[username],
                },
            )
            assert r.ok, f"creating {username}: {r.status_code} {r.text[:300]}"
        rec["api"] = {"admin": admin, **{u: RestApi(prod.api_url, u, p) for u, p in users.items()}}
        mark("users created")

        # --- 1. the orders extract on worker 1, killed mid-extract --------------------------
        control = celery_control(prod)
        worker2 = f"airflow-worker-2@{HOST}"
        reply = control.cancel_consumer("default", destination=[worker2], reply=True, timeout=10)
        assert reply, f"worker 2 did not answer cancel_consumer: {reply}"
        admin.set_paused(ORDERS, False)
        wait_for(worker_marker.exists, "the orders extract reaching its failpoint on worker 1", 240, 0.5)
        dag_id, run_id, ti = wait_for(lambda: running_ti(admin, [ORDERS], "extract"), "extract running", 30)
        rec["extract_kill"] = {"run_id": run_id, "ti_before": ti}
        control.add_consumer("default", destination=[worker2], reply=True, timeout=10)
        rec["extract_kill"]["killed_pids"] = prod.kill("airflow-worker-1")
        rec["extract_kill"]["at"] = time.time()
        rec["extract_kill"]["worker1_tree_alive"] = [
            p for p in rec["extract_kill"]["killed_pids"] if psutil.pid_exists(p)
        ]
        mark("worker 1 killed mid-extract")

        # --- the other sources; the writer killed mid-load ----------------------------------
        for d in OTHER_EXTRACTS:
            admin.set_paused(d, False)
        wait_for(writer_marker.exists, "an API load reaching its failpoint on the writer", 300, 0.5)
        dag_id, run_id, ti = wait_for(lambda: running_ti(admin, API_LOADS, "load"), "load running", 30)
        prod.kill("airflow-writer")
        rec["load_kill"] = {"dag_id": dag_id, "run_id": run_id, "ti_before": ti, "at": time.time()}
        # no writer runs now: the working database can be opened to look at what the kill left
        rec["load_kill"]["db_after_kill"] = working_db_state(prod.data_dir / "warehouse" / "plan_metrics_work.duckdb")
        prod.restart("airflow-writer")  # compose: restart: always (without the failpoint)
        mark("writer killed mid-load and restarted")

        for d in EXTRACTS:
            wait_for(lambda d=d: finished_runs(admin, d), f"{d} finished", 480, 3)
        mark("every extract DAG succeeded")
        for key, dag in (("extract_kill", ORDERS), ("load_kill", rec["load_kill"]["dag_id"])):
            task = "extract" if key == "extract_kill" else "load"
            rec[key]["tries"] = admin.tries(dag, rec[key]["run_id"], task)
        rec["heartbeat_events"] = admin("GET", "/eventLogs", params={"event": "heartbeat timeout", "limit": 50})[
            "event_logs"
        ]

        # --- 3. publish, as the operator ----------------------------------------------------
        operator = rec["api"]["operator"]
        operator.set_paused(TRANSFORM, False)
        r = operator.trigger(TRANSFORM, {"as_of": CLOCK})
        rec["operator_trigger"] = r.status_code
        assert r.ok, r.text[:300]
        wait_for(lambda: finished_runs(admin, TRANSFORM), "transform_publish finished", 420, 3)
        mark("published")
        rec["published"] = rec["pipeline"].published_values()
        rec["db_final"] = working_db_state(prod.data_dir / "warehouse" / "plan_metrics_work.duckdb")

        # --- a failed quality gate alerts through Apprise -----------------------------------
        for d in EXTRACTS:  # nothing else may open the working database now
            admin.set_paused(d, True)
        wait_for(lambda: all(finished_runs(admin, d) for d in EXTRACTS), "extract runs over", 300, 3)
        published_sha = sha256(rec["pipeline"].published_db)
        with duckdb.connect(str(rec["pipeline"].working_db)) as conn:
            conn.execute(
                """insert into raw.kechuang_orders__orders
                   select * replace ('-99999999.00' as tech_transaction_cny, '2021-09-30T23:59:59+08:00' as updated_at,
                                     'planted-defect' as _record_hash, now() as _landed_at)
                   from raw.kechuang_orders__orders where status = 'closed' limit 1"""
            )
        transform_runs = len(admin.runs(TRANSFORM))
        assert operator.trigger(TRANSFORM, {"as_of": CLOCK}).ok
        gate_run = wait_for(
            lambda: [r for r in admin.runs(TRANSFORM)[transform_runs:] if r["state"] in ("success", "failed")],
            "the run with the defect finished",
            420,
            3,
        )[0]
        rec["gate_run"] = {"state": gate_run["state"], "tis": admin.tis(TRANSFORM, gate_run["dag_run_id"])}
        wait_for(lambda: webhook.received, "the alert on the webhook", 60, 1)
        rec["published_unchanged"] = sha256(rec["pipeline"].published_db) == published_sha
        mark("gate failure alerted")

        # --- 5. redelivery of what the dead workers held ------------------------------------
        rec["redelivery"] = redeliver(prod, admin, rec)
        mark("redelivered messages refused")

        # --- 6. a rollback, by the operator through Airflow (so in its audit log) -----------
        from settings import Settings
        from warehouse.publish import current_publish_id

        settings = Settings.from_env()  # only its DuckDB bounds: the file is the pipeline's
        current = current_publish_id(settings, rec["pipeline"].published_db)
        operator.set_paused(ROLLBACK, False)
        rec["rollback_trigger"] = operator.trigger(ROLLBACK, {"to": current}).status_code
        rec["rollback"] = wait_for(lambda: finished_runs(admin, ROLLBACK), "rollback_publish finished", 300, 3)
        rec["rollback_publish_id"] = (current, current_publish_id(settings, rec["pipeline"].published_db))
        rec["modes"] = file_modes(prod)  # every DAG has run, a publish and a rollback too
        mark("rolled back by the operator")

        # --- 7. access through the TLS proxy ------------------------------------------------
        rec["access"] = access_walk(prod, admin, users)
        mark("access walked through the proxy")
        yield rec
    finally:
        prod.stop()
        sim.stop()
        webhook.close()
        rec["leftovers"] = prod.leftovers()
        rec["timings"]["stopped"] = round(time.monotonic() - started, 1)
        print(f"\nproduction-shaped run: {json.dumps(rec['timings'])}; start-up {json.dumps(prod.timings)}")


def redeliver(prod: ProdLocal, admin: RestApi, rec: dict) -> dict:
    """What Redis still holds unacknowledged (the dead workers' messages), put back on their
    queues as the broker does after the visibility timeout; then what the workers did with it."""
    from kombu import Connection

    client = prod.redis.client()
    unacked = {k.decode(): json.loads(v) for k, v in client.hgetall("unacked").items()}
    queues = sorted(v[2] for v in unacked.values())
    tries_before = {k: admin.tries(*k) for k in ((ORDERS, rec["extract_kill"]["run_id"], "extract"),)}
    tries_before[(rec["load_kill"]["dag_id"], rec["load_kill"]["run_id"], "load")] = admin.tries(
        rec["load_kill"]["dag_id"], rec["load_kill"]["run_id"], "load"
    )
    landing = {str(p): sha256(p) for p in (prod.data_dir / "landing").rglob("*") if p.is_file()}
    db_before = working_db_state(prod.data_dir / "warehouse" / "plan_metrics_work.duckdb")
    logs_before = {n: len(p.log.read_text(errors="replace")) for n, p in prod.processes.items()}
    with Connection(prod.broker_url(), transport_options={"visibility_timeout": 1}) as conn:
        time.sleep(1.5)
        conn.default_channel.qos.restore_visible(num=100)
    seen: dict[str, list[str]] = {}

    def settled():
        for name in ("airflow-worker-2", "airflow-writer"):
            text = prod.processes[name].log.read_text(errors="replace")[logs_before.get(name, 0) :]
            seen[name] = [line for line in text.splitlines() if "Executing workload" in line or "not found" in line]
        refused = all(any("Task Instance not found" in line for line in lines) for lines in seen.values())
        return refused and client.hlen("unacked") == 0

    wait_for(settled, "both redelivered messages answered", 120, 2)
    time.sleep(5)  # a task wrongly started would have changed something by now
    return {
        "unacked_queues": queues,
        "tries_before": tries_before,
        "tries_after": {k: admin.tries(*k) for k in tries_before},
        "landing_unchanged": landing
        == {str(p): sha256(p) for p in (prod.data_dir / "landing").rglob("*") if p.is_file()},
        "db_unchanged": db_before == working_db_state(prod.data_dir / "warehouse" / "plan_metrics_work.duckdb"),
        "worker_log": seen,
    }


# --- 6. access: one login, TLS at the proxy, roles, lockout, audit -------------------------------
REPORTER_COUNTY, OTHER_COUNTY = "420106", "420102"  # 武昌区 is the reporter's, 江岸区 is not
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'


def create_user(admin: RestApi, username: str, roles: list[str]) -> str:
    password = "Pw-" + hashlib.sha256(f"{username}{time.time()}".encode()).hexdigest()[:24]
    r = admin.request(
        "POST",
        "/auth/fab/v1/users",
        json={
            "username": username,
            "email": f"{username}@example.org",
            "first_name": username,
            "last_name": "Test",
            "roles": [{"name": r} for r in roles],
            "password": password,
        },
    )
    assert r.ok, f"creating {username}: {r.status_code} {r.text[:300]}"
    return password


def dashboard_login(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def choose(page, key: str, option: str) -> None:
    """Pick an option of a selectbox (by its key) as a user does: open it, click the option."""
    box = page.locator(f'.st-key-{key} [role="combobox"]')
    wanted = page.locator('[role="option"]').filter(has_text=option).first
    for _ in range(3):
        box.scroll_into_view_if_needed()
        box.click()
        try:
            wanted.wait_for(state="visible", timeout=3000)
            break
        except Exception:  # the list closed under a scroll: open it again
            page.keyboard.press("Escape")
    wanted.click()


def shown_alert(page) -> str:
    page.wait_for_selector('[data-testid="stAlert"]', timeout=60_000)
    return page.locator('[data-testid="stAlert"]').first.inner_text()


def access_walk(prod: ProdLocal, admin: RestApi, users: dict[str, str]) -> dict:
    """Through the proxy over HTTPS, in Chromium: who gets in where, and what the audit log says."""
    import requests
    from playwright.sync_api import sync_playwright

    from bench.dashboard import CHROMIUM_ARGS
    from dashboard.audit import read as read_audit
    from deploy.roles import county_role
    from tests.dashboard.conftest import settle

    url, out = prod.url, {}
    users["reporter"] = create_user(admin, "reporter", ["Reporter", county_role(REPORTER_COUNTY)])
    users["locked"] = create_user(admin, "locked", ["Viewer"])
    # --- plain HTTPS: the certificate verifies, the headers are set, Airflow sits under /airflow/
    anonymous = requests.get(f"{url}/", verify=prod.cert, allow_redirects=False, timeout=30)
    out["anonymous_dashboard"] = (anonymous.status_code, anonymous.headers.get("location"), dict(anonymous.headers))
    out["anonymous_dbt_docs"] = requests.get(
        f"{url}/dbt-docs", verify=prod.cert, allow_redirects=False, timeout=30
    ).status_code
    out["anonymous_stream"] = requests.get(f"{url}/_stcore/host-config", verify=prod.cert, timeout=30).status_code
    out["api_version"] = requests.get(f"{url}/airflow/api/v2/version", verify=prod.cert, timeout=30).status_code
    out["execution_api"] = requests.get(f"{url}/airflow/execution/health", verify=prod.cert, timeout=30).status_code
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            out.update(_browser_walk(browser, url, users, choose, settle))
        finally:
            browser.close()
    # the lock holds for Airflow itself: the right password is refused at /auth/token too
    token = requests.post(
        f"{prod.api_url}/auth/token", json={"username": "locked", "password": users["locked"]}, timeout=30
    )
    out["locked_token"] = token.status_code
    out["audit"] = read_audit(str(prod.audit_log))
    out["audit_mode"] = prod.audit_log.stat().st_mode & 0o777
    out["lock_log"] = log_lines(prod.logs / "airflow-apiserver.log", "plan_metrics.login")
    out["event_log"] = admin("GET", "/eventLogs", params={"owner": "operator", "limit": 200})["event_logs"]
    return out


def _browser_walk(browser, url: str, users: dict[str, str], choose, settle) -> dict:
    out = {}

    def context():
        return browser.new_context(
            ignore_https_errors=True, locale="zh-CN", viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )

    # anonymous: both the UI and the dashboard answer with a login page
    ctx = context()
    page = ctx.new_page()
    page.goto(f"{url}/airflow/")
    page.wait_for_url("**/airflow/auth/login/**", timeout=60_000)
    out["anonymous_airflow_url"] = page.url
    page.goto(f"{url}/explorer")
    page.wait_for_selector("form#login")
    out["anonymous_dashboard_url"] = page.url
    ctx.close()

    # a viewer: the Airflow UI through the proxy, then the dashboard — reads and downloads, is
    # refused the pre-check, logs out
    ctx = context()
    page = ctx.new_page()
    page.goto(f"{url}/airflow/")
    page.wait_for_url("**/airflow/auth/login/**", timeout=60_000)
    page.fill("#username", "viewer")
    page.fill("#password", users["viewer"])
    page.click("[type=submit]")
    page.wait_for_url(f"{url}/airflow/", timeout=60_000)
    page.wait_for_load_state("networkidle")
    out["viewer_airflow_title"] = page.title()
    dashboard_login(page, url, "viewer", users["viewer"])
    page.wait_for_selector(READY, timeout=120_000)
    settle(page)
    out["viewer_home"] = (page.url, page.locator("h1").first.inner_text())
    out["viewer_sidebar"] = page.locator('[data-testid="stSidebar"]').inner_text()
    page.goto(f"{url}/explorer")
    page.wait_for_selector(READY, timeout=120_000)
    settle(page)
    with page.expect_download() as download:
        page.locator(".st-key-dl-csv-ranking button").click()
    out["viewer_download"] = download.value.suggested_filename
    page.goto(f"{url}/precheck")
    page.wait_for_selector(READY, timeout=120_000)
    out["viewer_precheck"] = shown_alert(page)
    out["viewer_cookies"] = {c["name"]: c for c in ctx.cookies()}
    page.goto(f"{url}/logout")
    page.wait_for_selector("form#login")
    out["after_logout_url"] = page.url
    page.goto(f"{url}/")
    page.wait_for_selector("form#login")
    out["after_logout_home"] = page.url
    ctx.close()

    # a county reporter: pre-checks a file of their county, is refused another county's and the
    # reading pages
    ctx = context()
    page = ctx.new_page()
    dashboard_login(page, url, "reporter", users["reporter"])
    page.wait_for_selector(READY, timeout=120_000)
    settle(page)
    out["reporter_home"] = (page.url, page.locator("h1").first.inner_text())
    upload = {"name": "report.xlsx", "mimeType": "application/octet-stream", "buffer": b"PK\x03\x04 not really"}
    for key, county in (("own", REPORTER_COUNTY), ("other", OTHER_COUNTY)):
        choose(page, "precheck-county", county)
        page.locator('.st-key-precheck-file input[type="file"]').set_input_files(upload)
        settle(page)
        page.locator(".st-key-precheck-run button").click()
        settle(page)
        result = page.locator(".st-key-precheck-result")
        out[f"reporter_precheck_{key}"] = {
            "result": result.inner_text() if result.count() else None,  # the pre-check's verdict, when it ran
            "alerts": page.locator('[data-testid="stAlert"]').all_inner_texts(),
        }
    page.goto(f"{url}/overview")
    page.wait_for_selector(READY, timeout=120_000)
    out["reporter_overview"] = shown_alert(page)
    ctx.close()

    # three wrong passwords lock the account: the fourth try, with the right one, is refused
    ctx = context()
    page = ctx.new_page()
    out["lockout"] = []
    for password in ("wrong-1", "wrong-2", "wrong-3", users["locked"]):
        dashboard_login(page, url, "locked", password)
        out["lockout"].append((page.url, page.locator(".error").inner_text() if page.locator(".error").count() else ""))
    ctx.close()
    return out


def expected() -> dict:
    return truth.metric_values(WorldConfig(SEED, SCALE), parse_ts(CLOCK), sources=truth.ALL_SOURCES)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- the pipeline under Celery --------------------------------------------------------------
def test_every_dag_ran_under_celery_and_the_published_tables_equal_the_truth(run):
    assert_matches_truth(run["published"], expected())


def test_the_writer_imported_dbt_and_great_expectations_before_it_forked_the_build_and_the_gate(run):
    # GIVEN the writer started as compose starts it (pipeline/writer_worker.py)
    logs = [p for p in (run["prod"].airflow_home / "logs").rglob("*") if p.is_file()]
    for task, module in (("dbt_build", "dbt.cli.main"), ("quality_gate", "great_expectations")):
        files = [p for p in logs if f"task_id={task}" in str(p)]
        # THEN every try of the task found its library imported already, and none imported it
        preloaded = [line for p in files for line in log_lines(p, module, "imported by the worker before this task")]
        paid = [line for p in files for line in log_lines(p, module, "imported by this task")]
        assert files and preloaded and not paid, (task, [str(p) for p in files], paid)


def test_nothing_was_lost_or_duplicated_in_the_raw_layer(run):
    db = run["db_final"]
    assert db["orphans"] and not any(db["orphans"].values()), f"raw rows of no loaded manifest: {db['orphans']}"
    for source in ("kechuang_orders", "scipop_platform", "kechuang_roadshows"):
        assert source in db["manifests"], f"{source} never loaded"
    with duckdb.connect(str(run["pipeline"].working_db), read_only=True) as conn:
        dup = conn.execute(
            "select count(*) - count(distinct (order_id, _record_hash)) from raw.kechuang_orders__orders "
            "where _record_hash <> 'planted-defect'"
        ).fetchone()[0]
    assert dup == 0


# --- 2. worker failure --------------------------------------------------------------------
def test_a_worker_killed_mid_extract_is_failed_by_heartbeat_timeout_and_retried_on_the_other_worker(run):
    kill = run["extract_kill"]
    # GIVEN the orders extract was running (try 1) on worker 1 when worker 1 and its task were killed
    assert kill["ti_before"]["try_number"] == 1
    assert kill["killed_pids"] and not kill["worker1_tree_alive"]
    # THEN try 1 was failed for its missing heartbeat, and try 2 succeeded
    (first, second) = kill["tries"]
    assert (first["try_number"], first["state"]) == (1, "failed")
    assert (second["try_number"], second["state"]) == (2, "success")
    events = [e for e in run["heartbeat_events"] if e["dag_id"] == ORDERS and e["task_id"] == "extract"]
    assert events, f"no 'heartbeat timeout' event for the extract: {run['heartbeat_events']}"
    # AND try 2 ran on worker 2 (worker 1's process never came back)
    logs = run["prod"].logs

    def ran(worker: str, n: int) -> list[str]:
        return log_lines(logs / f"{worker}.log", "Executing workload", ORDERS, "task_id='extract'", f"try_number={n}")

    assert ran("airflow-worker-1", 1) and not ran("airflow-worker-1", 2)
    assert ran("airflow-worker-2", 2)
    # the heartbeat timeout (60 s) and the task's retry delay (1-2 min) set how long it took;
    # the timeout runs from the try's last heartbeat, which came up to one heartbeat interval
    # (5 s) before the kill
    failed_after, retried_after = ts(first["end_date"]) - kill["at"], ts(second["start_date"]) - kill["at"]
    print(
        f"\nextract: worker 1 killed; try 1 failed by heartbeat timeout {failed_after:.0f}s later; "
        f"try 2 started on worker 2 {retried_after:.0f}s after the kill"
    )
    assert 60 - 5 <= failed_after < retried_after


def test_the_writer_killed_mid_load_left_the_working_database_consistent_and_the_next_try_loaded(run):
    kill = run["load_kill"]
    source = kill["dag_id"].removeprefix("extract_")
    after_kill = kill["db_after_kill"]
    # THEN what the killed transaction inserted is not there: no raw row without its manifest,
    # and nothing of that source loaded (nor its watermark moved)
    assert not any(after_kill["orphans"].values())
    assert source not in after_kill["manifests"]
    assert not [w for w in after_kill["watermarks"] if f"'{source}'" in w]
    # AND the next try loaded it
    tries = kill["tries"]
    assert [t["state"] for t in tries] == ["failed", "success"], tries
    assert source in run["db_final"]["manifests"]
    print(
        f"\nload ({kill['dag_id']}): writer killed mid-load; try 1 failed {ts(tries[0]['end_date']) - kill['at']:.0f}s "
        f"later; try 2 started {ts(tries[1]['start_date']) - kill['at']:.0f}s after the kill on the restarted writer"
    )


def test_redelivered_messages_of_the_dead_workers_are_refused_and_change_nothing(run):
    red = run["redelivery"]
    # GIVEN Redis still held both dead workers' messages unacknowledged (Celery acks late)
    assert red["unacked_queues"] == ["default", "duckdb_writer"]
    # WHEN they are redelivered (as after the visibility timeout) THEN a live worker takes each
    # and the execution API refuses the try it names (a retry has a new task-instance id)
    for worker, dag_id, task in (
        ("airflow-worker-2", ORDERS, "extract"),
        ("airflow-writer", run["load_kill"]["dag_id"], "load"),
    ):
        lines = red["worker_log"][worker]
        assert any(f"dag_id={dag_id}/" in line and f"task_id={task}/attempt=1.log" in line for line in lines), lines
        assert any("Task Instance not found" in line for line in lines), lines
    # AND no task ran again, nothing changed
    assert red["tries_after"] == red["tries_before"]
    assert red["landing_unchanged"] and red["db_unchanged"]


# --- 3. alerts --------------------------------------------------------------------------
def test_a_failed_quality_gate_alerts_through_apprise_and_leaves_the_published_file(run):
    gate = run["gate_run"]
    assert gate["state"] == "failed"
    assert gate["tis"]["quality_gate"]["state"] == "failed" and gate["tis"]["publish"]["state"] != "success"
    assert run["published_unchanged"]
    (alert,) = run["webhook"].received
    assert alert["type"] == "failure"
    assert "dag=transform_publish task=quality_gate" in alert["message"]
    assert "Quality gate failed" in alert["message"] and "plan_metric_values" in alert["message"]


def test_the_webhook_url_and_its_token_appear_in_no_log(run):
    prod = run["prod"]
    files = [p for p in prod.root.rglob("*.log") if p.is_file()] + list((prod.airflow_home / "logs").rglob("*"))
    files = [p for p in files if p.is_file()]
    # the gate's task log names where the alert went, masked by Airflow's secrets masker
    sent = [line for p in files if "task_id=quality_gate" in str(p) for line in log_lines(p, "alert handed to Apprise")]
    assert sent and all("***" in line for line in sent), f"no masked destination in the gate's log: {sent}"
    leaks = [str(p) for p in files if WEBHOOK_TOKEN in p.read_text(errors="replace")]
    assert not leaks, f"the webhook token is logged in {leaks}"


# --- 4. roles ---------------------------------------------------------------------------
def test_the_viewer_may_look_but_not_trigger_clear_or_read_connections(run):
    viewer = run["api"]["viewer"]
    assert viewer.request("GET", f"/api/v2/dags/{ORDERS}").status_code == 200
    assert viewer.trigger(ORDERS).status_code == 403
    assert viewer.request("GET", "/api/v2/connections").status_code == 403
    clear = {"dry_run": True, "dag_run_id": run["extract_kill"]["run_id"], "task_ids": ["extract"]}
    assert viewer.request("POST", f"/api/v2/dags/{ORDERS}/clearTaskInstances", json=clear).status_code == 403
    assert viewer.request("PATCH", f"/api/v2/dags/{ORDERS}", json={"is_paused": False}).status_code == 403


def test_the_operator_may_trigger_and_clear_but_not_read_connections(run):
    operator = run["api"]["operator"]
    assert run["operator_trigger"] == 200
    clear = {"dry_run": True, "dag_run_id": run["extract_kill"]["run_id"], "task_ids": ["extract"]}
    assert operator.request("POST", f"/api/v2/dags/{ORDERS}/clearTaskInstances", json=clear).status_code == 200
    assert operator.request("GET", "/api/v2/connections").status_code == 403
    assert run["api"]["admin"].request("GET", "/api/v2/connections").status_code == 200


def test_only_loopback_listens_and_postgres_and_redis_require_their_passwords(run):
    import psycopg2
    import redis

    prod = run["prod"]
    for name in ("airflow-apiserver", "dashboard", "proxy"):
        top = psutil.Process(prod.processes[name].pid)
        listening = {
            c.laddr
            for p in [top, *top.children(recursive=True)]
            for c in p.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening and {a.ip for a in listening} == {"127.0.0.1"}, (name, listening)
    assert prod.proxy.port in {c.laddr.port for c in psutil.Process(prod.processes["proxy"].pid).net_connections()}
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=prod.redis.port, socket_timeout=5).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=prod.redis.port, password="wrong", socket_timeout=5).ping()
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=prod.postgres.port, user="airflow", password="wrong", dbname="airflow")


# --- 6. access: one login, TLS at the edge, roles, lockout, audit ------------------------------
def test_anonymous_visitors_get_the_login_page_of_the_airflow_ui_and_of_the_dashboard(run):
    acc = run["access"]
    url = run["prod"].url
    # GIVEN nobody is logged in WHEN the UI, a dashboard page, /dbt-docs or the app's API are asked for
    assert acc["anonymous_airflow_url"].startswith(f"{url}/airflow/auth/login/")
    assert acc["anonymous_dashboard_url"] == f"{url}/login?next=%2Fexplorer"
    status, location, _ = acc["anonymous_dashboard"]
    # THEN each answers with a login (a page) or a refusal (the app's own requests), never content
    assert (status, location) == (303, "/login?next=%2F")
    assert acc["anonymous_dbt_docs"] == 303
    assert acc["anonymous_stream"] == 401


def test_the_proxy_serves_https_only_with_hsts_and_keeps_the_execution_api_inside(run):
    acc = run["access"]
    _, _, headers = acc["anonymous_dashboard"]  # verified against the proxy's certificate
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Server"] == "nginx"  # no version
    assert acc["api_version"] == 200  # the REST API through the proxy, under /airflow/
    assert acc["execution_api"] == 404  # the workers' API is not reachable from outside


def test_a_viewer_uses_the_airflow_ui_reads_and_downloads_from_the_dashboard_and_is_refused_the_precheck(run):
    acc = run["access"]
    url = run["prod"].url
    # GIVEN a FAB user with the Viewer role, logged in once in the UI and once in the dashboard
    assert "Airflow" in acc["viewer_airflow_title"]
    home, heading = acc["viewer_home"]
    # THEN the dashboard opens on the overview, says who is logged in, lists no pre-check
    assert home == f"{url}/" and heading == "一揽子计划实施监测"
    assert "viewer · Viewer" in acc["viewer_sidebar"] and "退出登录" in acc["viewer_sidebar"]
    assert "上传预检" not in acc["viewer_sidebar"]
    assert acc["viewer_download"].startswith("ranking-") and acc["viewer_download"].endswith(".csv")
    # AND opening the pre-check by its address is refused
    assert "无权访问此页面" in acc["viewer_precheck"]


def test_sessions_are_secure_http_only_cookies_and_logging_out_ends_the_session(run):
    acc = run["access"]
    cookies = acc["viewer_cookies"]
    session = cookies["plan_metrics_session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"
    token = cookies["_token"]  # Airflow's, set through the proxy
    assert token["secure"] and token["httpOnly"] and token["path"] == "/airflow/"
    assert all(c["secure"] for c in cookies.values()), {n: c["secure"] for n, c in cookies.items()}
    url = run["prod"].url
    assert acc["after_logout_url"] == f"{url}/login?out=1"
    assert acc["after_logout_home"] == f"{url}/login?next=%2F"


def test_a_county_reporter_prechecks_a_file_of_their_county_and_is_refused_another_county_and_the_reading_pages(run):
    acc = run["access"]
    # GIVEN a user with the roles Reporter and county-420106-武昌区 (no reading role)
    home, heading = acc["reporter_home"]
    # THEN the dashboard opens on the pre-check
    assert home == f"{run['prod'].url}/" and heading == "上传预检"
    # AND a file of 武昌区 is pre-checked (the verdict is the pre-check's own), one of 江岸区 refused,
    # naming the counties, before anything reads it
    own, other = acc["reporter_precheck_own"], acc["reporter_precheck_other"]
    assert own["result"] and not any("无权" in a for a in own["alerts"]), own
    assert other["result"] is None, other
    (refusal,) = [a for a in other["alerts"] if "无权" in a]
    assert (
        f"无权为以下县（市、区）预检：{OTHER_COUNTY}" in refusal
        and f"您负责的县（市、区）：{REPORTER_COUNTY}" in refusal
    )
    assert "无权访问此页面" in acc["reporter_overview"]


def test_three_wrong_passwords_lock_the_account_for_the_dashboard_and_for_airflow(run):
    acc = run["access"]
    url = run["prod"].url
    # GIVEN three wrong passwords in a row, then the right one
    (*wrong, right) = acc["lockout"]
    # THEN every try stays on the login page with the error, the right password included
    for page_url, error in [*wrong, right]:
        assert page_url == f"{url}/login" and "用户名或密码错误，或账户已被锁定" in error
    # AND Airflow refuses the right password too: the lock is the account's
    assert acc["locked_token"] == 401
    lock = [line for line in acc["lock_log"] if "user=locked" in line]
    assert any("account locked: user=locked after 3 failed logins" in line for line in lock), lock
    assert any("login refused: user=locked is locked until" in line for line in lock), lock


def test_the_audit_log_records_logins_failures_views_downloads_and_refusals_and_no_data(run):
    acc = run["access"]
    events = [(e["event"], e["user"], e.get("page"), e.get("table"), e.get("county")) for e in acc["audit"]]
    # GIVEN the walk above WHEN the admin reads the dashboard's audit log (0640, JSON lines)
    assert acc["audit_mode"] == 0o640
    expected_in_order = [
        ("login", "viewer", None, None, None),
        ("view", "viewer", "overview", None, None),
        ("view", "viewer", "explorer", None, None),
        ("download", "viewer", "explorer", "ranking", None),
        ("refused", "viewer", "precheck", None, None),
        ("logout", "viewer", None, None, None),
        ("login", "reporter", None, None, None),
        ("view", "reporter", "precheck", None, None),
        ("precheck", "reporter", "precheck", None, REPORTER_COUNTY),
        ("precheck_refused", "reporter", "precheck", None, OTHER_COUNTY),
        ("refused", "reporter", "overview", None, None),
        *[("login_failed", "locked", None, None, None)] * 4,
    ]
    # THEN each step is there, in order, with its user, page, table or county
    it = iter(events)
    missing = [step for step in expected_in_order if step not in it]
    assert not missing, f"not in order in the audit log: {missing}\n{events}"
    assert all(e["time"].endswith("Z") and e.get("ip") for e in acc["audit"])
    # AND nothing of the data or the uploaded file: no values, no file name, no password
    text = json.dumps(acc["audit"], ensure_ascii=False)
    assert "report.xlsx" not in text and "wrong-1" not in text and run["prod"].admin[1] not in text
    precheck = next(e for e in acc["audit"] if e["event"] == "precheck")
    assert set(precheck) == {"time", "event", "user", "page", "county", "size", "sha256", "ip"}


def test_a_rollback_is_an_operators_run_of_rollback_publish_and_airflows_audit_log_names_who_did_what(run):
    # GIVEN the operator rolled back (to the current publish: the only one kept) through Airflow
    assert run["rollback_trigger"] == 200
    (rollback,) = run["rollback"]
    assert rollback["state"] == "success"
    before, after = run["rollback_publish_id"]
    assert after == before
    # THEN Airflow's own audit log names the operator for the triggers of the publish and of
    # the rollback, and for unpausing them
    events = run["access"]["event_log"]
    by_operator = [(e["event"], e["dag_id"]) for e in events if e.get("owner") == "operator"]
    triggered = {d for e, d in by_operator if "trigger" in e}
    assert {TRANSFORM, ROLLBACK} <= triggered, by_operator
    assert any(d == ROLLBACK and "patch" in e.lower() for e, d in by_operator), by_operator


def test_each_running_component_holds_only_its_own_secrets(run):
    prod = run["prod"]
    secrets = prod.secrets

    def holds(name: str) -> set[str]:
        env = prod.processes[name].env
        found = {n for n, v in secrets.items() if any(v in str(x) for x in env.values())}
        return found | {k for k in env if k.startswith("AIRFLOW_CONN_") and env[k]}

    sources = {k for k in prod.extra_env if k.startswith("AIRFLOW_CONN_") and k != "AIRFLOW_CONN_PLAN_METRICS_ALERTS"}
    # GIVEN the deployment ran every DAG (the tests above) WHEN the components' environments are read
    assert not sources & holds("airflow-apiserver") and "REDIS_PASSWORD" not in holds("airflow-apiserver")
    assert holds("airflow-worker-2") >= sources and "POSTGRES_PASSWORD" not in holds("airflow-worker-2")
    assert not {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET"} & holds("airflow-worker-2")
    assert not sources & holds("airflow-writer") and "POSTGRES_PASSWORD" not in holds("airflow-writer")
    assert holds("dashboard") == {"DASHBOARD_SESSION_SECRET"}
    assert holds("airflow-triggerer") == {"POSTGRES_PASSWORD", "AIRFLOW_API_SECRET_KEY"}
    assert not any(k.startswith("AIRFLOW") for k in prod.processes["dashboard"].env)


def test_the_pipeline_wrote_its_data_0750_0640_and_the_published_folder_for_the_readers_group(run):
    modes = run["modes"]
    # GIVEN every DAG ran under Celery WHEN the data folder's modes are read
    assert modes["checked"] > 20
    # THEN folders are 0750, files 0640 (restricted storage 0700/0600, published/ 2750)
    assert modes["wrong"] == [], "\n".join(modes["wrong"][:20])
    # AND published/ and its files belong to the readers group
    assert set(modes["published_gids"].values()) == {modes["readers_gid"]}, modes


# --- 5. stop ------------------------------------------------------------------------------
def test_stopping_leaves_no_process_behind(run):
    prod = run["prod"]
    prod.stop()
    assert prod.leftovers() == []
    assert not prod.postgres.root.exists()
