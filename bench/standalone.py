"""Airflow's real scheduler on this machine, for the tests and the benchmark: `airflow standalone`
(api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite) started by
`scripts/airflow_standalone.sh` in its own process group, and a small REST client for it.

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
import socket
import subprocess
import time
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        while True:
            assert self.proc.poll() is None, f"standalone exited: {self.tail()}"
            assert time.monotonic() < deadline, f"api-server not up after {timeout}s: {self.tail()}"
            try:
                if requests.get(f"{self.url}/api/v2/version", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(2)
        # The simple auth manager writes the generated admin password here on first start.
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        r = requests.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=10
        )
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def api(self, method: str, path: str, **kw) -> dict:
        r = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kw)
        assert r.ok, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else {}

    def wait_for_dags(self, dag_ids, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for dag_id in dag_ids:
            while self.session.get(f"{self.url}/api/v2/dags/{dag_id}", timeout=30).status_code != 200:
                assert time.monotonic() < deadline, f"{dag_id} never parsed: {self.tail()}"
                time.sleep(2)

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]

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

    def task_instances(self, dag_id: str, run: dict) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{requests.utils.quote(run['dag_run_id'], safe='')}/taskInstances"
        return self.api("GET", path)["task_instances"]

    def task_report(self, dag_id: str, run: dict) -> str:
        return "\n".join(f"  {t['task_id']}: {t['state']}" for t in self.task_instances(dag_id, run))

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


LATENCY_MARGIN_SECONDS = 180  # issue target: a reader sees a change within the cadence plus this


def publish_ids(published_db: Path) -> list[str]:
    """The publishes the published file holds (its own log), oldest first."""
    from warehouse import duck

    if not Path(published_db).exists():
        return []
    with duck.connect(published_db, read_only=True) as conn:
        return [
            r[0] for r in conn.execute("select publish_id from metrics.publish_log order by published_at").fetchall()
        ]


def reader_latency(af: Standalone, extract_dag: str, change, published_db: Path, timeout: float = 900) -> dict:
    """Seconds from a change in the source (`change()`) to the new publish a reader opens,
    the extract DAG's run triggered at the moment of the change (the cadence's tick)."""
    before = set(publish_ids(published_db))
    started = time.time()
    change()
    af.api("POST", f"/dags/{extract_dag}/dagRuns", json={"logical_date": None})
    deadline = time.monotonic() + timeout
    while True:
        new = [p for p in publish_ids(published_db) if p not in before]
        if new:
            return {"seconds": round(time.time() - started, 1), "publish_id": new[-1]}
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new publish {timeout:.0f}s after the change; see {af.log}")
        time.sleep(1)
