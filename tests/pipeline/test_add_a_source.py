"""Adding a source is one registry entry (plus its dbt models): a sixth, toy source added to
`extract.sources.SOURCES` alone gets an extract DAG that Airflow runs, lands and loads its
records, its raw Asset schedules the transform, and the gate's raw checks cover it.

The toy source is a tiny cursor-paginated API served by this test over real HTTP; the DAG
runs through Airflow (`dag.test()`) in a child process that adds the registry entry before
anything reads the registry, exactly as an edit of extract/sources.py would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "toy-token-for-this-test"
WIDGETS = [
    {
        "widget_id": f"w{i:03d}",
        "county_code": "420102",
        "size": i,
        "updated_at": f"2021-03-{4 + i % 28:02d}T10:00:00+08:00",
    }
    for i in range(57)
]
# The registry entry, as someone would write it into extract/sources.py.
TOY_ENTRY = """
from datetime import timedelta
from extract.sources import SOURCES, Cadence, Endpoint, Source

WIDGETS = Endpoint(
    source="toy_widgets", name="widgets", path="/v1/widgets", pagination="cursor", since_param="updated_since",
    key=("widget_id",), fields={"widget_id": "varchar", "county_code": "varchar", "size": "bigint", "updated_at": "varchar"},
    required=("widget_id", "updated_at"),
)
SOURCES["toy_widgets"] = Source(
    name="toy_widgets", code="S6", title="玩具 toy widgets", kind="http", cadence=Cadence("0 3 * * *", timedelta(hours=1), timedelta(days=1)),
    freshness_hours=24, measures=("M09",), endpoints=(WIDGETS,), about="A toy source for the registry test.",
)
"""
RUN_DAG = (
    TOY_ENTRY
    + """
import sys
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])  # the dags folder, as Airflow puts it on the path
from plan_dag_lib import RAW_ASSETS
from plan_dag_lib.extract_dag import source_dag

dag = source_dag(SOURCES["toy_widgets"])
run = dag.test(run_after=datetime(2021, 3, 31, 20, tzinfo=timezone.utc))
print("STATE", run.state)
print("ASSET", RAW_ASSETS["toy_widgets"].uri)
print("TASKS", sorted(t.task_id for t in dag.tasks), sorted(dag.tags))
"""
)
GATE = (
    TOY_ENTRY
    + """
import sys, json, duckdb
from datetime import datetime, timezone
from expectations import published, raw
from expectations.gate import _context, validate
from extract.sources import env_example
from warehouse.run_context import run_context
as_of = datetime(2021, 3, 31, 16, tzinfo=timezone.utc)  # the end of the run's data interval
ctx = run_context("toy", as_of, as_of)
context = _context()  # GX builds suites inside a context
with duckdb.connect(sys.argv[1]) as conn:
    batches = {b.name: b for b in raw.batches(conn, ctx)}
    delivered = published.delivered(conn)[0]
    checks = [c for b in batches.values() for c in validate(context, b)[0]]
print(json.dumps({
    "freshness": batches["raw_freshness"].df.to_dict("records"),
    "keys": batches["raw_keys"].df.to_dict("records"),
    "required": batches["raw_required"].df.to_dict("records"),
    "delivered": delivered,
    "checks": [(c.suite, c.success, c.severity) for c in checks],
    "env": env_example(),
}, default=str))
"""
)


class _Toy(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"error": "bad token"})
        if url.path != "/v1/widgets":
            return self._send(404, {"error": "no such endpoint"})
        q = parse_qs(url.query)
        limit, start = int(q["limit"][0]), int(q.get("cursor", ["0"])[0])
        since = q.get("updated_since", [""])[0]
        rows = sorted((w for w in WIDGETS if w["updated_at"] > since), key=lambda w: (w["updated_at"], w["widget_id"]))
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        self._send(200, {"data": page, "next_cursor": str(start + limit) if more else None})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def toy_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Toy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_sixth_source_added_to_the_registry_alone_is_extracted_loaded_and_gated(toy_server, tmp_path):
    # GIVEN an isolated data folder and Airflow home, and the toy source's connection
    data, home = tmp_path / "data", tmp_path / "airflow"
    host, port = toy_server.removeprefix("http://").split(":")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
    env.update(
        PLAN_METRICS_DATA_DIR=str(data),
        PLAN_METRICS_INCOMING_DIR=str(tmp_path / "incoming"),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW_CONN_TOY_WIDGETS=json.dumps({"conn_type": "http", "host": host, "port": int(port), "password": TOKEN}),
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    pool = subprocess.run(
        [airflow, "pools", "set", "duckdb_writer", "1", "writer"], env=env, capture_output=True, text=True, timeout=120
    )
    assert pool.returncode == 0 and "duckdb_writer" in pool.stdout, pool.stdout[-2000:] + pool.stderr[-2000:]
    # WHEN Airflow runs the DAG the registry entry gives
    run = subprocess.run(
        [sys.executable, "-c", RUN_DAG, str(REPO / "dags")], env=env, capture_output=True, text=True, timeout=600
    )
    out = run.stdout + run.stderr
    # THEN the DAG extract_toy_widgets ran to success with the shared shape, tags from the entry
    assert run.returncode == 0 and "STATE success" in run.stdout, out[-4000:]
    assert "TASKS ['extract', 'load', 'read_watermarks'] ['M09', 'S6', 'extract']" in run.stdout
    assert "ASSET duckdb://plan_metrics_work/raw/toy_widgets" in run.stdout
    # AND every widget landed and loaded into its raw table, with the watermark
    db = data / "warehouse" / "plan_metrics_work.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        ids = {r[0] for r in conn.execute("select widget_id from raw.toy_widgets__widgets").fetchall()}
        watermark = conn.execute("select watermark from meta.watermarks where source = 'toy_widgets'").fetchone()
    assert ids == {w["widget_id"] for w in WIDGETS}
    assert watermark == (max(w["updated_at"] for w in WIDGETS),)
    assert list((data / "landing" / "toy_widgets" / "widgets").iterdir())
    # WHEN the gate's raw suites run THEN they cover the toy source with its own freshness limit
    gate = subprocess.run([sys.executable, "-c", GATE, str(db)], env=env, capture_output=True, text=True, timeout=600)
    assert gate.returncode == 0, gate.stderr[-3000:]
    seen = json.loads(gate.stdout.strip().splitlines()[-1])
    (fresh,) = [r for r in seen["freshness"] if r["source"] == "toy_widgets"]
    assert fresh["max_age_hours"] == 24 and fresh["age_hours"] < 24
    assert [r["duplicated_versions"] for r in seen["keys"] if r["table_name"] == "raw.toy_widgets__widgets"] == [0]
    assert {r["field"] for r in seen["required"] if r["table_name"] == "raw.toy_widgets__widgets"} == {
        "widget_id",
        "updated_at",
    }
    assert "S6" in seen["delivered"]  # the coverage check now expects its catalog metrics
    assert all(ok for suite, ok, severity in seen["checks"] if severity == "block")
    # AND the deployment's connection list names it
    assert "AIRFLOW_CONN_TOY_WIDGETS=" in seen["env"]
