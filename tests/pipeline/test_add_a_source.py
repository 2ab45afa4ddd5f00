"""A source lives in one place: a sixth, toy source with one metric goes from its registry entry
to a published value equal to its truth, and the files written for it by hand are few (at most
5) and exactly the ones docs/add-a-source.md lists.

The test adds the source to a copy of the project (never the checkout) as a developer would:
the hand-written files of `HAND_WRITTEN` (the registry entry, the metric's events model and
catalog row, the deployment's connection lines), then `python -m extract.sources scaffold
toy_widgets` for everything else of the source's own (its dbt sources YAML, staging, checked
and models YAML, and dbt's copy of the registry, which the union models read). Then the copy's
tests that keep the registry's copies equal pass, and `make pipeline`'s runner runs the toy's
extract DAG and `transform_publish` through Airflow against a tiny cursor-paginated API served
by this test over real HTTP: the metric is published at every level with the truth's values.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
TOKEN = "toy-token-for-this-test"
COUNTIES = ("420102", "420103", "421202")  # two in Wuhan (420100), one in Xianning (421200)
WIDGETS = [
    {
        "widget_id": f"w{i:03d}",
        "county_code": COUNTIES[i % 3],
        "made_on": f"2021-{1 + i % 3:02d}-{1 + i % 28:02d}",
        "size": i,
        "updated_at": f"2021-03-{4 + i % 20:02d}T10:00:00+08:00",
    }
    for i in range(57)
]
AS_OF = "2021-03-31T23:59:59+08:00"
METRIC = "toy_widgets_made"

# --- what a developer writes by hand -----------------------------------------------------------
TOY_ENTRY = """
# --- S6: toy widgets (cursor pagination) -------------------------------------------------
WIDGETS = Endpoint(
    name_zh="玩具",
    name_en="widgets",
    source="toy_widgets",
    name="widgets",
    path="/v1/widgets",
    pagination="cursor",
    since_param="updated_since",
    key=("widget_id",),
    fields={"widget_id": "varchar", "county_code": "varchar", "made_on": "varchar", "size": "bigint", "updated_at": "varchar"},
    required=("widget_id", "county_code", "made_on", "updated_at"),
)
_REGISTRY += (
    Source(
        name="toy_widgets",
        code="S6",
        title="玩具 toy widgets",
        kind="http",
        cadence=Cadence("0 3 * * *", timedelta(hours=1), timedelta(days=1)),
        freshness_hours=24,
        measures=("M09",),
        endpoints=(WIDGETS,),
        metric_events=("int_toy_widget_metric_events",),
        about="A toy source for the registry test.",
    ),
)
"""
EVENTS_MODEL = """-- Toy metric events: one per widget, at its county and the month it was made.
with widgets as (
    select * from {{ ref('int_widgets_checked') }}
    where quarantine_reason is null
),

final as (
    select
        'toy_widgets_made' as metric_id,
        county_code as region_code,
        cast(date_trunc('month', made_on) as date) as period_month,
        {{ event_value('1') }} as value,
        widget_id as entity_id
    from widgets
)

select * from final
"""
CATALOG_ROW = (
    "toy_widgets_made,M09,玩具件数,Toy widgets made,count,sum,true,S6,"
    "按制作月份计入所在县区的玩具件数,Widgets by the month they were made at their county\n"
)
COMPOSE_LINE = "      AIRFLOW_CONN_TOY_WIDGETS: ${AIRFLOW_CONN_TOY_WIDGETS:?AIRFLOW_CONN_TOY_WIDGETS is not set - see .env.example}\n"
REGISTRY_END = "SOURCES: dict[str, Source] = {s.name: s for s in _REGISTRY}"
LAST_CONN_IN_COMPOSE = "AIRFLOW_CONN_KECHUANG_ORDERS: ${AIRFLOW_CONN_KECHUANG_ORDERS:?"


def _add_entry(text: str) -> str:
    return text.replace(REGISTRY_END, TOY_ENTRY.lstrip() + REGISTRY_END)


def _add_compose_line(text: str) -> str:
    lines = text.splitlines(keepends=True)
    (at,) = [n for n, line in enumerate(lines) if LAST_CONN_IN_COMPOSE in line]
    return "".join([*lines[: at + 1], COMPOSE_LINE, *lines[at + 1 :]])


def _add_env_example(text: str, root: Path) -> str:
    # the block `python -m extract.sources env-example` prints, pasted over the old one
    block = _run([sys.executable, "-m", "extract.sources", "env-example"], root).stdout
    old = "\n".join(line for line in block.splitlines() if "TOY_WIDGETS" not in line) + "\n"
    assert old in text
    return text.replace(old, block)


HAND_WRITTEN = {
    "extract/sources/__init__.py": lambda text, root: _add_entry(text),
    "dbt_project/models/intermediate/metrics/int_toy_widget_metric_events.sql": lambda text, root: EVENTS_MODEL,
    "dbt_project/seeds/metric_definitions.csv": lambda text, root: text + CATALOG_ROW,
    "docker-compose.yml": lambda text, root: _add_compose_line(text),
    ".env.example": _add_env_example,
}
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "data", "target", "logs", "__pycache__", ".pytest_cache", "*.duckdb"
)


def _run(cmd: list[str], root: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**(env or os.environ), "PYTHONPATH": str(root)}  # the copy's packages, not the checkout's
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts
    }


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


@pytest.fixture(scope="module")
def toy_project(tmp_path_factory) -> dict:
    """A copy of the project with the toy source added: the files written by hand, then the
    scaffold; what changed against the checkout, and what the scaffold said it wrote."""
    root = tmp_path_factory.mktemp("toy") / "project"
    shutil.copytree(REPO, root, ignore=NOT_COPIED)
    before = _tree(root)
    for rel, edit in HAND_WRITTEN.items():
        path = root / rel
        path.write_text(edit(path.read_text(encoding="utf-8") if path.exists() else "", root), encoding="utf-8")
    scaffold = _run([sys.executable, "-m", "extract.sources", "scaffold", "toy_widgets"], root)
    scaffolded = {str(Path(line).relative_to(root)) for line in scaffold.stdout.split()}
    after = _tree(root)
    changed = {p for p in after if before.get(p) != after[p]}
    return {"root": root, "changed": changed, "scaffolded": scaffolded}


@pytest.fixture(scope="module")
def toy_run(toy_project, toy_server, tmp_path_factory) -> dict:
    """`make pipeline`'s runner over the copy: the toy's extract DAG, then transform_publish as
    of the end of March 2021, through Airflow, in an isolated data folder and Airflow home."""
    root, base = toy_project["root"], tmp_path_factory.mktemp("toy-run")
    host, port = toy_server.removeprefix("http://").split(":")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
    env.update(
        PLAN_METRICS_DATA_DIR=str(base / "data"),
        PLAN_METRICS_INCOMING_DIR=str(base / "incoming"),
        AIRFLOW_HOME=str(base / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(root / "dags"),
        AIRFLOW_CONN_TOY_WIDGETS=json.dumps({"conn_type": "http", "host": host, "port": int(port), "password": TOKEN}),
    )
    runner = [sys.executable, "-m", "pipeline.run_dags", "--log-dir", str(base / "logs")]
    conf = ["--conf", "transform_publish=" + json.dumps({"as_of": AS_OF})]
    run = subprocess.run(
        [*runner, *conf, "extract_toy_widgets", "transform_publish"],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=800,
    )
    return {"run": run, "data": base / "data"}


def _doc_paths() -> list[str]:
    """The files docs/add-a-source.md says are written by hand: the backticked paths of its
    section "Written by hand"."""
    doc = (REPO / "docs" / "add-a-source.md").read_text(encoding="utf-8")
    section = doc.split("## Written by hand", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. `([^`]+)`", section, re.M)


def test_the_toy_source_is_at_most_five_hand_written_files_and_the_doc_lists_exactly_them(toy_project):
    # GIVEN the toy source added to a copy: its hand-written files, then the scaffold
    changed, scaffolded = toy_project["changed"], toy_project["scaffolded"]
    # THEN every other file that changed was written by the scaffold, and none of those by hand
    assert changed - set(HAND_WRITTEN) == scaffolded
    assert not scaffolded & set(HAND_WRITTEN)
    assert len(HAND_WRITTEN) <= 5
    # AND the doc lists exactly the files written by hand (a <placeholder> stands for a name)
    documented = _doc_paths()
    patterns = [re.compile(re.sub(r"<[a-z_]+>", "[a-z0-9_]+", re.escape(p))) for p in documented]
    matches = {rel: [p.pattern for p in patterns if p.fullmatch(rel)] for rel in HAND_WRITTEN}
    assert all(len(m) == 1 for m in matches.values()), matches
    assert len(documented) == len(HAND_WRITTEN), documented


def test_the_copys_registry_copies_stay_equal_with_the_toy_source(toy_project):
    # GIVEN the copy with the toy source WHEN the tests that keep the registry's copies equal run
    # THEN they pass: dbt's raw contract and registry copy, .env.example, the worker's connections
    tests = [
        "tests/dbt/test_dbt_registry.py",
        "tests/dbt/test_dbt_raw_contract.py",
        "tests/test_structure.py::test_env_example_lists_the_connection_of_every_http_source_in_the_registry",
        "tests/deployment/test_deployment_compose.py::"
        "test_the_extract_worker_holds_the_connection_of_every_http_source_in_the_registry",
    ]
    result = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *tests],
        toy_project["root"],
    )
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_toy_source_is_extracted_loaded_and_its_metric_published_equal_to_its_truth(toy_run):
    # GIVEN the toy's extract DAG and transform_publish ran through Airflow
    run = toy_run["run"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "extract_toy_widgets" in run.stdout and "transform_publish" in run.stdout
    # THEN every widget was loaded into its raw table, with the watermark
    data = toy_run["data"]
    with duckdb.connect(str(data / "warehouse" / "plan_metrics_work.duckdb"), read_only=True) as conn:
        ids = {r[0] for r in conn.execute("select widget_id from raw.toy_widgets__widgets").fetchall()}
        (watermark,) = conn.execute("select watermark from meta.watermarks where source = 'toy_widgets'").fetchone()
        gate = conn.execute(
            "select count(*), count(*) filter (where not success and severity = 'block') from meta.quality_checks "
            "where table_name like '%toy_widgets%'"
        ).fetchone()
    assert ids == {w["widget_id"] for w in WIDGETS}
    assert watermark == max(w["updated_at"] for w in WIDGETS)
    # AND the gate checked the toy's raw table and blocked nothing of it
    assert gate[0] > 0 and gate[1] == 0
    # AND the metric is published at county, prefecture and province with the truth's values
    with duckdb.connect(str(data / "published" / "plan_metrics.duckdb"), read_only=True) as conn:
        published = {
            (region, str(month)): (level, value)
            for region, month, level, value in conn.execute(
                "select region_code, period_month, region_level, value from metrics.plan_metric_values "
                "where metric_id = ?",
                [METRIC],
            ).fetchall()
        }
        catalog = conn.execute("select source from metrics.metric_catalog where metric_id = ?", [METRIC]).fetchall()
    assert published == _truth()
    assert catalog == [("S6",)]


def _truth() -> dict[tuple[str, str], tuple[str, float]]:
    """Widgets by the month they were made: at their county, its prefecture and the province."""
    counts: Counter = Counter()
    for w in WIDGETS:
        month = w["made_on"][:7] + "-01"
        county = w["county_code"]
        counts[(county, "county", month)] += 1
        counts[(county[:4] + "00", "prefecture", month)] += 1
        counts[("420000", "province", month)] += 1
    return {(region, month): (level, float(n)) for (region, level, month), n in counts.items()}
