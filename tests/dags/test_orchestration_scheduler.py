"""The pipeline under Airflow's real scheduler: `airflow standalone` (api-server, scheduler,
dag-processor, triggerer; LocalExecutor) started by `scripts/airflow_standalone.sh` on a
throw-away PostgreSQL as its metadata database (production's kind: deploy/local_stack's,
installed from Debian's packages when missing), driven only through the REST API, against the
simulator over HTTP.

One Airflow installation serves the module, and one scenario runs on it, always in this
order; each step runs when a test first needs it (a test alone runs the steps before its
own) and records what it saw, and the tests assert on those records — so each test passes
alone and in any order:
1. unpausing the orders DAG and transform_publish schedules the latest hourly interval; its
   raw Asset triggers transform_publish; what is published equals the simulator's truth
   (the other sources' DAGs stay paused: their extraction has its own tests, and this
   test has to stay within minutes on two cores);
2. a backfill that re-runs that interval after the source changed reproduces exactly the
   tables the interval produced: it reuses what the interval landed and asks the source nothing;
3. a manually triggered run then picks up the change and publishes the new truth;
4. the REST client (bench/standalone.py) never sends a POST twice: one whose reply is lost (a
   dropped connection; a 500 after Airflow committed) is reconciled, its run or backfill adopted;
5. stopping Airflow, then its PostgreSQL, leaves no process behind.

The wall clock's hour may turn at any moment of the module, and the scheduler then starts a
run for the new interval, which may land a change before a step's own run does. Nothing here
counts runs: each run is known by its id and type, and each claim is checked so that such a
run cannot falsify it — the backfill by what belongs to its interval alone (its landed files
byte for byte, the raw rows of the manifests loaded before, its own task states and log; the
published tables and the Asset events only when no other run loaded anything meanwhile), the
manual run by the rows of its own manifests (should an hour's run have landed the change
first, the step makes a second change, which no hour can turn on within minutes).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import secrets
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import psutil
import pytest
import requests

from bench.standalone import LATENCY_MARGIN_SECONDS, Standalone, parse_time, publish_ids, reader_latency
from deploy.local_stack.services import Postgres
from extract.sources import SOURCES
from simulator import truth
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from tests.conftest import REPO, Pipeline, assert_matches_truth

pytestmark = [pytest.mark.airflow, pytest.mark.services, pytest.mark.timeout(900)]

SEED, SCALE = 5, 0.1
CLOCK_1 = "2021-03-31T23:59:59+08:00"  # what the scheduled interval lands
CLOCK_2 = "2021-06-30T23:59:59+08:00"  # the change made before the backfill
# the change the manual run picks up; the second only if an hour's scheduled run took the first
CLOCKS_3 = ("2021-09-30T23:59:59+08:00", "2021-12-31T23:59:59+08:00")
SOURCE = "kechuang_orders"
EXTRACT, TRANSFORM = f"extract_{SOURCE}", "transform_publish"
RAW_TABLES = tuple(ep.raw_table for ep in SOURCES[SOURCE].endpoints)
# how old the scheduler's idea of a DAG's next interval may be: one parse (30 s), generously
PARSE_STALENESS = timedelta(minutes=5)


def expected(clock: str) -> dict:
    # only the orders DAG is unpaused here (the other sources' DAGs stay paused), so the truth is S3's
    return truth.metric_values(WorldConfig(SEED, SCALE), parse_ts(clock), sources=("S3",))


def hour_of(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# --- what the test reads from the data folder ------------------------------------------------
def landing_snapshot(root: Path) -> dict[str, str]:
    """sha256 of every landed file. A run being written (`.tmp-*`, renamed into place when
    complete) is not landed yet: os.walk skips it, and a folder gone mid-walk is no error."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".tmp-")]
        for name in filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def read_working_db(db: Path, query, timeout: float = 120):
    """`query(conn)` on a read-only handle of the working database. A task of a run the hour
    started may hold the file's write lock for a moment: poll until it is free."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with duckdb.connect(str(db), read_only=True) as conn:
                return query(conn)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def raw_state(db: Path) -> dict:
    """Per raw table and manifest, its rows (the load's own timestamp aside), sorted; and the
    rows of meta.loaded_manifests: what each landed run put into the raw layer."""

    def query(conn):
        rows = {}
        for table in RAW_TABLES:
            per_manifest: dict[str, list] = {}
            for row in conn.execute(f"select _manifest_id, * exclude (_loaded_at) from {table}").fetchall():
                per_manifest.setdefault(row[0], []).append(repr(row[1:]))
            rows[table] = {m: sorted(r) for m, r in per_manifest.items()}
        loaded = {
            r[0]: r for r in conn.execute("select * from meta.loaded_manifests where source = ?", [SOURCE]).fetchall()
        }
        return {"rows": rows, "loaded": loaded}

    return read_working_db(db, query)


# --- the scenario ------------------------------------------------------------------------------
class Scenario:
    """The module's steps, each run once, in order, when first asked for; what each saw."""

    def __init__(self, af: Standalone, pipeline: Pipeline, postgres: Postgres):
        self.af, self.pipeline, self.postgres = af, pipeline, postgres
        self._steps: dict[str, tuple[bool, object]] = {}

    def _once(self, name: str, step):
        if name not in self._steps:
            try:
                self._steps[name] = (True, step())
            except BaseException as exc:
                self._steps[name] = (False, exc)
                raise
            print(
                f"\n[{datetime.now(UTC):%H:%M:%S}] scenario step {name!r} done; scheduled runs so far: {self.scheduled()}"
            )
        ok, value = self._steps[name]
        if not ok:
            raise AssertionError(f"the scenario's step {name!r} failed earlier: {value!r}") from value
        return value

    def unpaused(self) -> dict:
        return self._once("unpause", self._unpause)

    def backfilled(self) -> dict:
        self.unpaused()
        return self._once("backfill", self._backfill)

    def triggered(self) -> dict:
        self.backfilled()
        return self._once("trigger", self._trigger)

    def reconciled(self) -> dict:
        self.triggered()
        return self._once("reconcile", self._reconcile)

    def stopped(self) -> dict:
        self.reconciled()
        return self._once("stop", self._stop)

    # --- helpers ---
    def scheduled(self) -> list[str]:
        """The scheduled runs (the first interval's, and the hour's), for the log."""
        if self.af.proc is None or self.af.proc.poll() is not None:
            return []
        return [r["dag_run_id"] for r in self.af.runs(EXTRACT) if r["run_type"] == "scheduled"]

    @property
    def landing(self) -> Path:
        return self.pipeline.data_dir / "landing"

    def finished(self, dag_id: str, run_id: str, timeout: float = 300, **expect) -> dict:
        run = self.af.wait_for_run(dag_id, run_id, timeout=timeout, **expect)
        assert run["state"] == "success", f"{dag_id} {run_id}: {run['state']}\n{self.af.task_report(dag_id, run)}"
        return run

    def publish_triggered_by(self, run_id: str, timeout: float = 300) -> dict:
        """The transform_publish run started by the Asset event of `run_id`'s load, once finished."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.af.asset_events(source_dag_id=EXTRACT, source_run_id=run_id, source_task_id="load")
            runs = [r for e in events for r in e["created_dagruns"] if r["dag_id"] == TRANSFORM]
            if runs:
                return self.finished(TRANSFORM, runs[0]["run_id"], timeout=max(deadline - time.monotonic(), 60))
            assert time.monotonic() < deadline, f"no transform_publish run from {run_id}'s Asset event: {events}"
            time.sleep(2)

    def extract_log(self, run_id: str) -> str:
        (ti,) = [t for t in self.af.task_instances(EXTRACT, {"dag_run_id": run_id}) if t["task_id"] == "extract"]
        return self.af.task_log(EXTRACT, run_id, "extract", ti["try_number"])

    # --- 1. unpause ---
    def _unpause(self) -> dict:
        af = self.af
        started, unpaused_at = time.monotonic(), datetime.now(UTC)
        af.set_paused(TRANSFORM, False)
        af.set_paused(EXTRACT, False)
        # the interval the scheduler starts first is the one unpausing asked for (a later one
        # can only be the hour turning meanwhile)
        deadline = time.monotonic() + 300
        while not (scheduled := [r for r in af.runs(EXTRACT) if r["run_type"] == "scheduled"]):
            assert time.monotonic() < deadline, f"no scheduled run of {EXTRACT}: {af.tail()}"
            time.sleep(2)
        first = min(scheduled, key=lambda r: r["logical_date"])
        extract_run = self.finished(EXTRACT, first["dag_run_id"])
        transform_run = self.publish_triggered_by(extract_run["dag_run_id"])
        wall = time.monotonic() - started
        # whatever else the hour started ran at CLOCK_1 too: once it is done, the file is final
        af.wait_until_idle(EXTRACT, TRANSFORM)
        tis = af.task_instances(EXTRACT, extract_run) + af.task_instances(TRANSFORM, transform_run)
        run_wall = (parse_time(transform_run["end_date"]) - parse_time(extract_run["start_date"])).total_seconds()
        print(
            f"\nreal scheduler: unpause→published {wall:.1f}s; first extract task start→publish end {run_wall:.1f}s; "
            f"sum of task durations {sum(t['duration'] or 0 for t in tis):.1f}s; "
            + ", ".join(f"{t['task_id']} {t['duration']:.1f}s" for t in tis)
        )
        return {
            "unpaused_at": unpaused_at,
            "extract_run": extract_run,
            "extract_states": af.task_states(EXTRACT, extract_run),
            "landed": af.xcom(EXTRACT, extract_run["dag_run_id"], "extract"),
            "transform_run": transform_run,
            "published": self.pipeline.published_values(),
        }

    # --- 2. backfill ---
    def _backfill(self) -> dict:
        af, pipeline, first = self.af, self.pipeline, self.unpaused()
        interval_run = first["extract_run"]
        run_id = interval_run["dag_run_id"]
        own = {m["manifest_id"] for m in first["landed"]}  # what the interval landed: source/endpoint/run key
        af.wait_until_idle(EXTRACT, TRANSFORM)
        landing_before = landing_snapshot(self.landing)
        raw_before = raw_state(pipeline.working_db)
        published_before = pipeline.published_values()
        publishes_before = publish_ids(pipeline.published_db)
        # the source changes (later versions of many orders) …
        pipeline.sim.set_clock(CLOCK_2)
        # … and the interval is backfilled, re-running its completed run, through the REST API
        start = interval_run["logical_date"]
        backfill = af.create_backfill(EXTRACT, start, start, reprocess_behavior="completed", max_active_runs=1)
        deadline = time.monotonic() + 300
        while True:
            run = af.run(EXTRACT, run_id)
            if run["run_type"] == "backfill" and run["state"] in ("success", "failed"):
                break
            if run["run_type"] != "backfill":  # the backfill closed without re-running the interval?
                closed = af.api("GET", f"/backfills/{backfill['id']}")["completed_at"]
                assert closed is None, f"backfill {backfill['id']} closed without re-running {run_id}: {run}"
            assert time.monotonic() < deadline, f"backfill {backfill['id']} did not finish: {run}"
            time.sleep(2)
        states = af.task_states(EXTRACT, run)
        log = self.extract_log(run_id) if run["state"] == "success" else ""
        landed = af.xcom(EXTRACT, run_id, "extract") if run["state"] == "success" else None
        # whatever the hour may have started meanwhile finishes before anything is compared
        af.wait_until_idle(EXTRACT, TRANSFORM)
        # read in this order: events and the published file first, the raw layer last, so that
        # "nothing else was loaded" (the raw layer) also holds for what was read before it
        events = af.asset_events(source_dag_id=EXTRACT, timestamp_gte=backfill["created_at"])
        published_after = pipeline.published_values()
        publishes_after = publish_ids(pipeline.published_db)
        raw_after = raw_state(pipeline.working_db)
        return {
            "backfill": backfill,
            "run": run,
            "states": states,
            "extract_log": log,
            "landed": landed,
            "landed_first": first["landed"],
            "own_manifests": own,
            "landing_before": landing_before,
            "landing_after": landing_snapshot(self.landing),
            "raw_before": raw_before,
            "raw_after": raw_after,
            "events": events,
            "published_before": published_before,
            "published_after": published_after,
            "publishes_before": publishes_before,
            "publishes_after": publishes_after,
        }

    # --- 3. trigger ---
    def _trigger(self) -> dict:
        af, pipeline = self.af, self.pipeline
        attempts = []
        for n, clock in enumerate(CLOCKS_3, 1):
            af.wait_until_idle(EXTRACT, TRANSFORM)
            loaded_before = set(raw_state(pipeline.working_db)["loaded"])
            changed_at = datetime.now(UTC)
            # WHEN the source changes and a run is triggered through the REST API (the cadence's tick)
            latency = reader_latency(
                af,
                EXTRACT,
                lambda clock=clock: pipeline.sim.set_clock(clock),
                pipeline.published_db,
                timeout=400,
                run_id=f"manual__scheduler_test_{n}_{secrets.token_hex(4)}",
            )
            run = self.finished(EXTRACT, latency["run_id"])
            states = af.task_states(EXTRACT, run)
            landed = af.xcom(EXTRACT, run["dag_run_id"], "extract")
            af.wait_until_idle(EXTRACT, TRANSFORM)
            raw = raw_state(pipeline.working_db)
            own_rows = {m["manifest_id"]: sum(len(raw["rows"][t].get(m["manifest_id"], [])) for t in RAW_TABLES)
                        for m in landed}  # fmt: skip
            attempt = {
                "clock": clock,
                "run": run,
                "states": states,
                "own_rows": own_rows,
                "latency": latency,
                # scheduled runs (the hour's) still going at the change or started since, with their loads
                "hour_runs": [
                    (r["dag_run_id"], af.task_states(EXTRACT, r).get("load"))
                    for r in af.runs(EXTRACT)
                    if r["run_type"] == "scheduled"
                    and (r["end_date"] is None or parse_time(r["end_date"]) > changed_at)
                ],
                "loaded_since": sorted(set(raw["loaded"]) - loaded_before),
            }
            attempts.append(attempt)
            if states.get("load") == "success":
                attempt["transform_run"] = self.publish_triggered_by(run["dag_run_id"])
                af.wait_until_idle(EXTRACT, TRANSFORM)
                attempt["published"] = pipeline.published_values()
                break
            # an hour's scheduled run took the change first (asserted by the test): change again
        return {"attempts": attempts}

    # --- 3b. the REST client on a faulty network ---
    def _reconcile(self) -> dict:
        af, interval_run = self.af, self.unpaused()["extract_run"]
        af.wait_until_idle(EXTRACT, TRANSFORM)
        runs_path, backfills_path = f"/api/v2/dags/{EXTRACT}/dagRuns", "/api/v2/backfills"
        # the reply to the first POST of each is lost: the connection drops, or a 500 comes back
        # ("Database error", as SQLite gave under load) after the server did the work
        with FaultyProxy(af.url, {("POST", runs_path): "drop", ("POST", backfills_path): "500"}) as proxy:
            client = copy.copy(af)  # the same token, through the proxy
            client.url = proxy.url
            run_id = f"manual__scheduler_test_lost_reply_{secrets.token_hex(4)}"
            triggered = client.trigger_run(EXTRACT, run_id)
            af.wait_until_no_backfill(EXTRACT)  # the one of step 2
            backfills_before = [b["id"] for b in af.backfills(EXTRACT)]
            start = interval_run["logical_date"]
            backfill = client.create_backfill(EXTRACT, start, start, reprocess_behavior="completed", max_active_runs=1)
            posts = {
                "runs": proxy.forwarded[("POST", runs_path)],
                "backfills": proxy.forwarded[("POST", backfills_path)],
            }
            faults_left = dict(proxy.faults)
        manual = self.finished(EXTRACT, run_id)
        backfilled = self.finished(EXTRACT, interval_run["dag_run_id"], run_type="backfill")
        return {
            "run_id": run_id,
            "triggered": triggered,
            "manual": manual,
            "backfill": backfill,
            "backfills_before": backfills_before,
            "backfills_after": [b["id"] for b in af.backfills(EXTRACT)],
            "backfilled": backfilled,
            "posts": posts,
            "faults_left": faults_left,
        }

    # --- 4. stop ---
    def _stop(self) -> dict:
        leftovers = self.af.stop()
        exited = self.af.proc.poll() is not None
        self.postgres.stop()
        # PostgreSQL's server and its workers (`postgres: checkpointer`, …) share its process group
        postgres_left = [
            f"{p.pid} {' '.join(p.info['cmdline'] or [])[:120]}"
            for p in psutil.process_iter(["pid", "cmdline"])
            if _pgid(p.pid) == self.postgres.process.pid or str(self.postgres.data) in " ".join(p.info["cmdline"] or [])
        ]
        return {"leftovers": leftovers, "exited": exited, "postgres_left": postgres_left}


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


class FaultyProxy:
    """An HTTP proxy in front of the api-server, on a thread: it forwards every request, and for
    the first request of each (method, path) in `faults` it passes no reply on — "drop" closes
    the connection, "500" answers 500 "Database error" — after the server has done the work."""

    def __init__(self, target: str, faults: dict[tuple[str, str], str]):
        self.target, self.faults = target, dict(faults)
        self.forwarded: Counter = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type", "accept")
                }
                r = requests.request(self.command, proxy.target + self.path, headers=headers, data=body, timeout=120)
                key = (self.command, self.path.split("?")[0])
                with proxy.lock:
                    proxy.forwarded[key] += 1
                    fault = proxy.faults.pop(key, None)
                if fault == "drop":
                    self.close_connection = True
                    return
                status, content = (
                    (500, b'{"detail":"Database error"}') if fault == "500" else (r.status_code, r.content)
                )
                self.send_response(status)
                self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_PUT = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_postgres(logs: Path) -> tuple[Postgres, str]:
    """A throw-away PostgreSQL for Airflow's metadata, as `make prod-local` starts one (installed
    from Debian's packages when missing); its SQLAlchemy URL."""
    subprocess.run(["bash", str(REPO / "scripts" / "system_packages.sh"), "postgresql"], check=True)
    password = secrets.token_hex(16)
    postgres = Postgres(logs, password)
    postgres.start()
    return postgres, f"postgresql+psycopg2://airflow:{password}@127.0.0.1:{postgres.port}/airflow"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    base = tmp_path_factory.mktemp("scheduler")
    with SimulatorProcess(base / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1) as sim:
        postgres, url = start_postgres(base / "logs")
        try:
            pipeline = Pipeline(base / "data", sim)
            env = {
                **pipeline.env,
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            }
            af = Standalone(base / "airflow", env)
            s = Scenario(af, pipeline, postgres)
            try:
                af.start()
                af.wait_for_dags([EXTRACT, TRANSFORM])
                yield s
            finally:
                af.stop()
        finally:
            postgres.stop()


def test_unpaused_pipeline_runs_the_latest_interval_and_the_asset_triggered_publish_equals_the_truth(scenario):
    # WHEN the orders extract and transform_publish are unpaused through the REST API
    step = scenario.unpaused()
    run = step["extract_run"]
    # THEN the scheduler runs the latest complete hourly interval — as of when it last looked
    # at the DAG (the DAG processor re-parses it every 30 s), or the next one should the hour
    # turn before the run is created — and no earlier one (no catch-up) …
    start, end = parse_time(run["data_interval_start"]), parse_time(run["data_interval_end"])
    assert run["run_type"] == "scheduled"
    assert end - start == timedelta(hours=1)
    parsed_since = step["unpaused_at"] - PARSE_STALENESS
    assert hour_of(parsed_since) <= end <= hour_of(parse_time(run["queued_at"])), (step["unpaused_at"], run)
    # … lands and loads what the source holds …
    assert step["extract_states"] == {"read_watermarks": "success", "extract": "success", "load": "success"}
    # … and its raw Asset triggers the publish
    assert step["transform_run"]["run_type"] == "asset_triggered"
    # AND what is published is the simulator's truth
    assert_matches_truth(step["published"], expected(CLOCK_1))


def test_backfilling_an_interval_after_the_source_changed_reuses_what_it_landed_and_reproduces_its_tables(scenario):
    # GIVEN the scheduled interval was extracted, loaded and published at CLOCK_1
    # WHEN the source changed and that interval was backfilled through the REST API
    step = scenario.backfilled()
    own = step["own_manifests"]
    # THEN the backfill re-ran the interval's own run, and it succeeded
    assert step["run"]["run_type"] == "backfill" and step["run"]["state"] == "success", step["states"]
    # AND its extract asked the source nothing: it found the interval landed and handed on
    # exactly what the interval received
    for manifest_id in own:
        source, endpoint, key = manifest_id.split("/")
        assert f"{source}/{endpoint}: run {key} already landed" in step["extract_log"], step["extract_log"][-2000:]
    assert step["landed"] == step["landed_first"]
    # AND no landed file changed (landed runs are never rewritten), and nothing was added to
    # the interval's own run folders
    before, after = step["landing_before"], step["landing_after"]
    assert {p: after.get(p) for p in before} == before
    added = sorted(set(after) - set(before))
    assert not [p for p in added if any(p.startswith(f"{m}/") for m in own)], added
    # AND the raw rows of every manifest loaded before are exactly as they were, and the
    # interval's manifests were not loaded again
    raw_before, raw_after = step["raw_before"], step["raw_after"]
    for table in RAW_TABLES:
        assert {m: raw_after["rows"][table].get(m) for m in raw_before["rows"][table]} == raw_before["rows"][table]
    assert {m: raw_after["loaded"].get(m) for m in raw_before["loaded"]} == raw_before["loaded"]
    loaded_since = sorted(set(raw_after["loaded"]) - set(raw_before["loaded"]))
    print(
        f"\nbackfill: load {step['states'].get('load')}; loaded meanwhile by the hour's runs: {loaded_since or 'nothing'}"
    )
    assert own <= set(raw_before["loaded"]) and not own & set(loaded_since)
    if not loaded_since:
        # AND (nothing else loaded meanwhile) the load found nothing new: skipped, no Asset
        # event, no publish — the published tables are exactly as before
        assert step["states"] == {"read_watermarks": "success", "extract": "success", "load": "skipped"}
        assert step["events"] == []
        assert step["publishes_after"] == step["publishes_before"]
        assert step["published_after"] == step["published_before"]
    else:
        # (the hour turned and its run landed the change: what was loaded since is that run's)
        assert step["states"]["read_watermarks"] == step["states"]["extract"] == "success"
        assert step["states"]["load"] in ("skipped", "success")


def test_a_run_triggered_through_the_api_after_the_source_changed_picks_up_the_change_and_publishes_the_new_truth(
    scenario,
):
    step = scenario.triggered()
    *preempted, final = step["attempts"]
    for a in step["attempts"]:
        print(
            f"\nmanual run {a['run']['dag_run_id']} at {a['clock']}: load {a['states'].get('load')}; hour's runs {a['hour_runs']}"
        )
    # (an earlier attempt counts only if an hour's scheduled run loaded the change before it)
    for attempt in preempted:
        assert attempt["states"]["load"] == "skipped", attempt
        assert [state for _, state in attempt["hour_runs"]].count("success") >= 1, attempt
    # WHEN the source changed and a run was triggered through the REST API (the cadence's tick)
    run = final["run"]
    assert run["run_type"] == "manual"
    # THEN that run landed the change and its load put it into the raw layer …
    assert final["states"] == {"read_watermarks": "success", "extract": "success", "load": "success"}, final
    assert sum(final["own_rows"].values()) > 0, final["own_rows"]
    # … its raw Asset triggered a publish …
    assert final["transform_run"]["run_type"] == "asset_triggered"
    # … and the new versions are published
    assert_matches_truth(final["published"], expected(final["clock"]))
    # AND what a reader waits for is reported (measured, not asserted: 2 noisy cores): the
    # cadence's wait for the next tick at worst, plus the pipeline's own time from the change
    cadence = SOURCES[SOURCE].cadence.period.total_seconds()
    seconds = final["latency"]["seconds"]
    report = {
        "source": SOURCE,
        "cadence_seconds": cadence,
        "change_to_publish_seconds": seconds,
        "worst_case_seconds": cadence + seconds,
        "target_seconds": cadence + LATENCY_MARGIN_SECONDS,
    }
    out = scenario.pipeline.data_dir / "reports" / "reader_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nreader latency under the real scheduler: {report} ({out})")


def test_a_post_whose_reply_is_lost_is_reconciled_and_never_sent_twice(scenario):
    # WHEN a manual run is triggered and a backfill asked for through a network that loses
    # the first reply to each POST (a dropped connection; a 500 after the server committed)
    step = scenario.reconciled()
    assert step["faults_left"] == {}  # both replies were indeed lost
    # THEN each POST reached Airflow once: the client looked the run / backfill up and adopted it
    assert step["posts"] == {"runs": 1, "backfills": 1}
    assert step["triggered"]["dag_run_id"] == step["run_id"] == step["manual"]["dag_run_id"]
    assert step["manual"]["run_type"] == "manual" and step["manual"]["state"] == "success"
    assert step["backfills_after"] == [*step["backfills_before"], step["backfill"]["id"]]
    # AND the adopted backfill is the one that re-ran the interval
    assert step["backfilled"]["run_type"] == "backfill" and step["backfilled"]["state"] == "success"
    assert parse_time(step["backfilled"]["queued_at"]) >= parse_time(step["backfill"]["created_at"])


def test_stopping_airflow_leaves_no_process_behind(scenario):
    # WHEN the process group is stopped (after the scenario), then its PostgreSQL
    step = scenario.stopped()
    # THEN nothing started for this installation is still running
    assert step["leftovers"] == []
    assert step["exited"]
    assert step["postgres_left"] == []
