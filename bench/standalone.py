"""Airflow's real scheduler on this machine, for the tests and the benchmark: `airflow standalone`
(api-server, scheduler, dag-processor, triggerer; LocalExecutor) started by
`scripts/airflow_standalone.sh` in its own process group, and a small REST client for it.

The metadata database is whatever AIRFLOW__DATABASE__SQL_ALCHEMY_CONN in the environment names
(the script defaults it to SQLite under AIRFLOW_HOME); the real-scheduler test gives it a
throw-away PostgreSQL, as production has.

The REST client never sends a request twice unless sending it twice is harmless:
- GET, PATCH, PUT are sent again after a 5xx or a lost reply (they set or read a state);
- a manual run is created with an explicit `dag_run_id` (`trigger_run`): a failed or lost
  POST is reconciled by looking that id up, and sent again only when the run does not exist;
- a backfill has no key of its own, and Airflow commits its row before it creates its runs
  (`airflow.models.backfill._create_backfill`): a failed or lost `POST /backfills` is reconciled
  by listing the DAG's backfills (`create_backfill`) — a new one with the same dates is
  adopted when its runs exist; one whose runs were never created (an orphan, left by a
  request that failed half way) is cancelled, and only then is the backfill asked for again.
Any other POST is sent once.

`reader_latency()` measures what a reader waits for after a source changes: with the extract
DAG and transform_publish unpaused, the source's change is followed by the extract DAG's
next run (triggered through the REST API the moment the change is made, as the cadence's
tick would), the raw Asset schedules transform_publish, and the clock stops when the
published file's publish log holds the new publish. Total latency is that plus, at worst,
one cadence of waiting for the tick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import psutil
import requests

from deploy.local_stack.processes import free_port, wait_for_api
from deploy.local_stack.rest_api import quote
from settings import REPO

RETRIED_METHODS = frozenset({"GET", "HEAD", "PATCH", "PUT"})  # setting or reading a state: harmless twice
FINISHED = ("success", "failed")
ACTIVE = ("queued", "running")
# after a lost reply to a POST /backfills that left nothing visible, how long the request may
# still be at work on the server before asking again (the scheduler waits two minutes for an orphan)
LOST_REPLY_WAIT = 150


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class ApiError(AssertionError):
    """A REST call that failed for good (an assertion, so a test reports it as a failure)."""


class Standalone:
    """`airflow standalone` in its own process group, and a small REST client for it."""

    def __init__(self, home: Path, env: dict):
        self.home = home
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.env = {**env, "AIRFLOW_HOME": str(home), "AIRFLOW_PORT": str(self.port)}
        self.log = home / "standalone.log"
        self.proc: subprocess.Popen | None = None
        self.session = requests.Session()

    def start(self, timeout: float = 300) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["bash", str(REPO / "scripts" / "airflow_standalone.sh")],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: one signal stops everything
            )
        deadline = time.monotonic() + timeout
        try:
            wait_for_api(self.url, timeout, self.proc)
        except (RuntimeError, TimeoutError) as e:
            raise AssertionError(f"standalone: {e}: {self.tail()}") from None
        # The simple auth manager writes the generated admin password here on first start.
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        # Asking for a token twice is harmless (each request only issues one).
        while True:
            try:
                r = requests.post(
                    f"{self.url}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=30
                )
                if r.status_code < 500:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"no API token after {timeout}s: {self.tail()}"
            time.sleep(1)
        assert r.ok, f"POST /auth/token: {r.status_code} {r.text[:300]}"
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    # --- REST -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, timeout: float = 60, **kw) -> requests.Response | None:
        """One request; None when no reply came (connection refused or reset, timed out)."""
        try:
            return self.session.request(method, f"{self.url}/api/v2{path}", timeout=timeout, **kw)
        except (requests.ConnectionError, requests.Timeout):
            return None

    def request(self, method: str, path: str, retry_for: float = 180, **kw) -> requests.Response:
        """A reply to `method path`. GET/HEAD/PATCH/PUT are sent again after a 5xx or a lost reply
        until `retry_for` seconds have passed (the metadata database can be busy or restarting);
        anything else is sent exactly once. The reply may be an error: see `api()`."""
        method = method.upper()
        deadline = time.monotonic() + retry_for
        pause = 1.0
        while True:
            r = self._send(method, path, **kw)
            if r is not None and r.status_code < 500:
                return r
            if method not in RETRIED_METHODS or time.monotonic() + pause > deadline:
                if r is None:
                    raise ApiError(f"{method} {path}: no reply (after {retry_for:.0f}s of retries)")
                return r
            time.sleep(pause)
            pause = min(pause * 2, 10)

    def api(self, method: str, path: str, **kw) -> dict:
        """`request()`, failing on any error reply; the reply's JSON."""
        r = self.request(method, path, **kw)
        if not r.ok:
            raise ApiError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else {}

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def wait_for_dags(self, dag_ids, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for dag_id in dag_ids:
            while self.request("GET", f"/dags/{dag_id}").status_code != 200:
                assert time.monotonic() < deadline, f"{dag_id} never parsed: {self.tail()}"
                time.sleep(1)

    # --- runs -----------------------------------------------------------------------------
    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict | None:
        """The run `run_id` of `dag_id`, or None when there is none."""
        r = self.request("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}")
        if r.status_code == 404:
            return None
        if not r.ok:
            raise ApiError(f"GET run {dag_id}/{run_id}: {r.status_code} {r.text[:500]}")
        return r.json()

    def trigger_run(
        self, dag_id: str, run_id: str | None = None, conf: dict | None = None, timeout: float = 180
    ) -> dict:
        """Create a manual run with an explicit id (`manual__<uuid>` unless given) and return it.

        The id makes the POST safe to reconcile: after a 5xx, a 409 or a lost reply the run is
        looked up; it is adopted when it exists, and the POST is sent again only when it does
        not (the same id can never create a second run: a duplicate gets 409)."""
        run_id = run_id or f"manual__{uuid.uuid4().hex}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        deadline = time.monotonic() + timeout
        while True:
            r = self._send("POST", f"/dags/{dag_id}/dagRuns", json=body)
            if r is not None and r.ok:
                return r.json()
            if r is not None and r.status_code < 500 and r.status_code != 409:
                raise ApiError(f"POST /dags/{dag_id}/dagRuns: {r.status_code} {r.text[:500]}")
            existing = self.run(dag_id, run_id)
            if existing is not None:
                return existing
            reply = "no reply" if r is None else f"{r.status_code} {r.text[:300]}"
            if r is not None and r.status_code == 409:
                raise ApiError(f"POST /dags/{dag_id}/dagRuns: {reply}, yet no run {run_id} exists")
            assert time.monotonic() < deadline, f"could not trigger {dag_id} within {timeout:.0f}s: {reply}"
            time.sleep(2)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300, **expect) -> dict:
        """Wait until the run `run_id` is finished (and matches `expect`, e.g. run_type="backfill")."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run and run["state"] in FINISHED and all(run.get(k) == v for k, v in expect.items()):
                return run
            assert time.monotonic() < deadline, f"{dag_id} run {run_id} not finished after {timeout:.0f}s: {run}"
            time.sleep(2)

    def wait_for_runs(self, dag_id: str, count: int, timeout: float = 300) -> list[dict]:
        """Wait until `dag_id` has `count` runs and all are finished; fail on a failed run."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(dag_id)
            failed = [r for r in runs if r["state"] == "failed"]
            assert not failed, (
                f"{dag_id} run failed: {failed[-1]['dag_run_id']}\n{self.task_report(dag_id, failed[-1])}"
            )
            if len(runs) >= count and all(r["state"] == "success" for r in runs):
                return runs
            assert time.monotonic() < deadline, f"{dag_id}: {[(r['dag_run_id'], r['state']) for r in runs]}"
            time.sleep(3)

    def wait_until_idle(self, producer: str, consumer: str, timeout: float = 600) -> None:
        """Wait until no run of `producer` or `consumer` is queued or running and no Asset event
        waits to start a `consumer` run. Read in that order, which makes it exact for what started
        before the call: a finished producer run's Asset event is either queued or already a run."""
        deadline = time.monotonic() + timeout
        while True:
            busy = [(producer, r["dag_run_id"], r["state"]) for r in self.runs(producer) if r["state"] in ACTIVE]
            if not busy:
                queued = self.api("GET", f"/dags/{consumer}/assets/queuedEvents")["queued_events"]
                busy = [(consumer, "queued Asset event", e["created_at"]) for e in queued]
            if not busy:
                busy = [(consumer, r["dag_run_id"], r["state"]) for r in self.runs(consumer) if r["state"] in ACTIVE]
            if not busy:
                return
            assert time.monotonic() < deadline, f"still busy after {timeout:.0f}s: {busy}"
            time.sleep(2)

    def task_instances(self, dag_id: str, run: dict) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'])}/taskInstances"
        return self.api("GET", path)["task_instances"]

    def task_states(self, dag_id: str, run: dict) -> dict[str, str]:
        return {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run)}

    def task_report(self, dag_id: str, run: dict, log_lines: int = 25) -> str:
        """Each task's state, and the end of a failed task's log."""
        lines = []
        for t in self.task_instances(dag_id, run):
            lines.append(f"  {t['task_id']}: {t['state']}")
            if t["state"] == "failed" and t.get("try_number"):
                try:
                    log = self.task_log(dag_id, run["dag_run_id"], t["task_id"], t["try_number"])
                except AssertionError as exc:
                    log = f"(no log: {exc})"
                lines += [f"    | {line}" for line in log.splitlines()[-log_lines:]]
        return "\n".join(lines)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}"
        value = self.api("GET", path)["value"]
        return json.loads(value) if isinstance(value, str) else value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log for one try, as text (one line per structured event)."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        data = self.api("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        content = data.get("content", [])
        if isinstance(content, str):
            return content
        return "\n".join(e.get("event", "") if isinstance(e, dict) else str(e) for e in content)

    def asset_events(self, **filters) -> list[dict]:
        """Asset events, oldest first; filters as the API's (source_dag_id, source_run_id, timestamp_gte…)."""
        params = {"order_by": "timestamp", "limit": 100, **filters}
        return self.api("GET", "/assets/events", params=params)["asset_events"]

    # --- backfills ------------------------------------------------------------------------
    def backfills(self, dag_id: str) -> list[dict]:
        return self.api("GET", "/backfills", params={"dag_id": dag_id, "limit": 100, "order_by": "id"})["backfills"]

    def create_backfill(self, dag_id: str, from_date: str, to_date: str, timeout: float = 420, **options) -> dict:
        """`POST /backfills`, reconciled instead of resent; returns the backfill.

        Airflow commits a backfill's row before it creates the backfill's runs, so a request
        that fails may leave a backfill behind, whole or without runs. After a failed or lost
        reply the DAG's backfills are listed: a new one with these dates is adopted when it has
        its runs; one without runs (an orphan) is cancelled once the request that made it is
        over (a 5xx reply), or once the scheduler closed it (it closes a backfill left without
        runs after two minutes); only then, or when the request left nothing, is the backfill
        asked for again. A 409 with no backfill of this client's means another one is running."""
        body = {"dag_id": dag_id, "from_date": from_date, "to_date": to_date, **options}
        dates = (parse_time(from_date), parse_time(to_date))
        known = {b["id"] for b in self.backfills(dag_id)}
        abandoned: set[int] = set()
        deadline = time.monotonic() + timeout
        while True:
            r = self._send("POST", "/backfills", json=body, timeout=120)
            sent = time.monotonic()
            if r is not None and r.ok:
                return r.json()
            reply = "no reply" if r is None else f"{r.status_code} {r.text[:300]}"
            if r is not None and r.status_code < 500 and r.status_code != 409:
                raise ApiError(f"POST /backfills: {reply}")
            ended = r is not None and r.status_code >= 500  # the request is over: what it left is final
            while True:  # what did the request leave behind?
                mine = [
                    b
                    for b in self.backfills(dag_id)
                    if b["id"] not in known | abandoned
                    and (parse_time(b["from_date"]), parse_time(b["to_date"])) == dates
                ]
                assert len(mine) <= 1, f"POST /backfills ({reply}) left {len(mine)} backfills: {mine}"
                if mine and self._backfill_runs(dag_id, mine[0], *dates):
                    return mine[0]  # created whole; only the reply was lost
                if mine and (ended or mine[0]["completed_at"] is not None):
                    if mine[0]["completed_at"] is None:  # an orphan: close it, so the DAG may have a backfill again
                        cancel = self.request("PUT", f"/backfills/{mine[0]['id']}/cancel")
                        assert cancel.ok or cancel.status_code == 409, f"cancel {mine[0]['id']}: {cancel.text[:300]}"
                    abandoned.add(mine[0]["id"])
                    break
                if not mine and r is not None and r.status_code == 409:
                    raise ApiError(f"POST /backfills: {reply} (a backfill this client did not ask for is running)")
                if not mine and (ended or time.monotonic() - sent > LOST_REPLY_WAIT):
                    break  # nothing was committed: asking again is safe
                # no reply (or a 409 while ours is being created): the request may still be at work
                assert time.monotonic() < deadline, (
                    f"backfill neither created nor closed within {timeout:.0f}s: {reply}"
                )
                time.sleep(2)
            assert time.monotonic() < deadline, f"could not create the backfill within {timeout:.0f}s: {reply}"
            time.sleep(2)

    def wait_until_no_backfill(self, dag_id: str, timeout: float = 180) -> None:
        """A DAG may have one backfill at a time; the scheduler closes a finished one within 30 s."""
        deadline = time.monotonic() + timeout
        while open_ := [b["id"] for b in self.backfills(dag_id) if b["completed_at"] is None]:
            assert time.monotonic() < deadline, f"{dag_id}: backfills {open_} still open after {timeout:.0f}s"
            time.sleep(2)

    def _backfill_runs(self, dag_id: str, backfill: dict, start: datetime, end: datetime) -> list[dict]:
        """The runs a backfill created or re-queued: backfill runs of its dates queued since it was created."""
        created = parse_time(backfill["created_at"])
        return [
            r
            for r in self.runs_between(dag_id, start, end)
            if r["run_type"] == "backfill" and r["queued_at"] and parse_time(r["queued_at"]) >= created
        ]

    def runs_between(self, dag_id: str, start: datetime, end: datetime) -> list[dict]:
        params = {"logical_date_gte": start.isoformat(), "logical_date_lte": end.isoformat(), "limit": 100}
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    # --- processes --------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop the whole process group; returns any process of this installation still alive."""
        if self.proc is None:
            return []
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            deadline = time.monotonic() + wait
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.5)
            if not self._group_alive():
                break
        return self.leftovers()

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def leftovers(self) -> list[str]:
        """Processes started for this installation (found by its AIRFLOW_HOME), wherever they are."""
        found = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if p.environ().get("AIRFLOW_HOME") == str(self.home):
                    found.append(f"{p.pid} {' '.join(p.info['cmdline'] or [])[:120]}")
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found


LATENCY_MARGIN_SECONDS = 180  # the promise to readers: a change is seen within the cadence plus this


def publish_ids(published_db: Path) -> list[str]:
    """The publishes the published file holds (its own log), oldest first.

    Read as a reader reads it: through the dashboard's reader (`dashboard.data.open_reader`, an
    in-memory DuckDB with the file attached read-only) — not `settings.duck.connect`, whose
    spill folder is under the data folder of *this* process's environment (the checkout's
    `data/` when the caller, a test or the benchmark, has no PLAN_METRICS_DATA_DIR)."""
    from dashboard.data import open_reader

    path = Path(published_db)
    if not path.exists():
        return []
    reader = open_reader(path)
    try:
        return [r[0] for r in reader.rows("select publish_id from metrics.publish_log order by published_at")]
    finally:
        reader.conn.close()


def reader_latency(
    af: Standalone, extract_dag: str, change, published_db: Path, timeout: float = 900, run_id: str | None = None
) -> dict:
    """Seconds from a change in the source (`change()`) to the new publish a reader opens,
    the extract DAG's run triggered at the moment of the change (the cadence's tick)."""
    before = set(publish_ids(published_db))
    started = time.time()
    change()
    run = af.trigger_run(extract_dag, run_id)
    deadline = time.monotonic() + timeout
    while True:
        new = [p for p in publish_ids(published_db) if p not in before]
        if new:
            return {"seconds": round(time.time() - started, 1), "publish_id": new[-1], "run_id": run["dag_run_id"]}
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new publish {timeout:.0f}s after the change; see {af.log}")
        time.sleep(1)
