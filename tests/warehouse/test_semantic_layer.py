"""The semantic layer (MetricFlow, dbt_project/models/marts/semantic/) on the published file.

The catalog (seeds/metric_definitions.csv) and the semantic metrics are held equal: the same
ids, names, units and aggregations, each metric of the form its aggregation says. On the
published file of a small world, the real `mf query` (warehouse.semantic, what `make metrics`
runs) answers every metric at county, prefecture and province level by month, and the
answers equal the published plan_metric_values and the simulator's truth; a finer question
(orders placed by industry and month) is checked against the simulator's own orders. The
file is only read: its bytes stay the same and no .wal appears.
"""

from __future__ import annotations

import csv
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from settings import Settings
from simulator.source_truth import _screen_orders
from simulator.world import WorldConfig, bj_month, parse_ts
from tests.conftest import assert_matches_truth
from warehouse import semantic

pytestmark = pytest.mark.timeout(600)

SEMANTIC = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts" / "semantic"
CATALOG = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "metric_definitions.csv"
ADDITIVE_UNITS = {"count", "person_times", "cny"}
# (group-by beside the month, where) of each level: the region entity's own code for counties,
# its prefecture-level unit, nothing for the province
LEVELS = {
    "county": ("region", "{{ Dimension('region__level') }} = 'county'"),
    "prefecture": ("region__prefecture_code", None),
    "province": (None, None),
}
# the aggregation a catalog row names → the MetricFlow measure aggregation that computes it
FORMS = {
    "sum": {"sum", "count"},
    "distinct_count": {"count_distinct"},
    "median": {"percentile"},
    "mean": {"average"},
    "report_rate": {"average"},
}


def catalog() -> dict[str, dict]:
    with CATALOG.open(encoding="utf-8", newline="") as fh:
        return {row["metric_id"]: row for row in csv.DictReader(fh)}


def semantic_yaml() -> tuple[dict, dict]:
    """({metric name: metric}, {measure name: measure}) of the semantic layer's YAML."""
    metrics, measures = {}, {}
    for path in SEMANTIC.glob("*.yml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        metrics.update({m["name"]: m for m in doc.get("metrics", [])})
        for model in doc.get("semantic_models", []):
            measures.update({m["name"]: m for m in model.get("measures", [])})
    return metrics, measures


def test_every_catalog_metric_is_one_semantic_metric_with_its_name_unit_and_aggregation():
    # GIVEN the metric catalog and the semantic layer's metrics and measures
    rows, (metrics, measures) = catalog(), semantic_yaml()
    # THEN they hold the same metric ids, no more and no fewer
    assert set(metrics) == set(rows)
    for metric_id, row in rows.items():
        metric = metrics[metric_id]
        # AND each carries the catalog's Chinese name, definitions, measure code, unit and aggregation
        assert metric["label"] == row["name_zh"], metric_id
        assert row["definition_zh"] in metric["description"] and row["definition_en"] in metric["description"]
        meta = metric["config"]["meta"]
        assert (meta["measure_code"], meta["unit"], meta["aggregation"]) == (
            row["measure_code"],
            row["unit"],
            row["aggregation"],
        ), metric_id
        # AND is a simple metric over a measure of the form its aggregation says
        assert metric["type"] == "simple", metric_id
        measure = measures[metric["type_params"]["measure"]]
        assert measure["agg"] in FORMS[row["aggregation"]], metric_id
        if row["aggregation"] == "median":
            assert measure["agg_params"] == {"percentile": 0.5, "use_discrete_percentile": False}


@pytest.fixture(scope="module")
def answers(published_world, tmp_path_factory):
    """The semantic layer's answers on the published file: one `mf query` per level with all
    28 metrics, and orders placed by industry and month; and how long each took."""
    settings = Settings.from_env().with_data_dir(published_world.data_dir)
    db = settings.published_db
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out, seconds = tmp_path_factory.mktemp("mf"), {}
    started = time.perf_counter()
    semantic.semantic_manifest(settings)
    seconds["dbt parse"] = time.perf_counter() - started
    queries = {level: _level_args(group, where) for level, (group, where) in LEVELS.items()}
    queries["by industry"] = ["--metrics", "orders_placed", "--group-by", "order__industry,metric_time__month"]
    rows = {}
    for name, args in queries.items():
        started = time.perf_counter()
        res = semantic.run_mf(
            settings, [*args, "--csv", str(out / f"{name}.csv"), "--quiet"], capture_output=True, text=True
        )
        seconds[name] = time.perf_counter() - started
        assert res.returncode == 0, f"mf query {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            rows[name] = list(csv.DictReader(fh))
    print("semantic layer seconds:", {k: round(v, 1) for k, v in seconds.items()})
    return {"rows": rows, "seconds": seconds, "db": db, "sha256_before": before}


def _level_args(group: str | None, where: str | None) -> list[str]:
    group_by = ",".join(g for g in (group, "metric_time__month") if g)
    args = ["--metrics", ",".join(sorted(catalog())), "--group-by", group_by]
    return [*args, "--where", where] if where else args


def _month(value: str) -> str:
    return value[:10]


def _semantic_values(answers) -> dict:
    """{(metric_id, region_code, 'YYYY-MM-01'): (level, value, unit, None)} of the mf answers."""
    units = {m: row["unit"] for m, row in catalog().items()}
    values = {}
    for level, (group, _) in LEVELS.items():
        for row in answers["rows"][level]:
            region = row[group] if group else "420000"
            if not region:  # a province-coded ledger row has no prefecture
                continue
            for metric_id, unit in units.items():
                if row[metric_id] not in ("", None):
                    key = (metric_id, region, _month(row["metric_time__month"]))
                    values[key] = (level, float(row[metric_id]), unit, None)
    return values


def _with_province_zeros(values: dict) -> dict:
    """metrics.md: a count, person-times or money metric has a province row for every month from
    its first to its last (0 where nothing happened); MetricFlow answers only months with records."""
    filled = dict(values)
    months: dict[str, list[str]] = {}
    for (metric_id, region, month), (_, _, unit, _) in values.items():
        if region == "420000" and unit in ADDITIVE_UNITS:
            months.setdefault(metric_id, []).append(month)
    for metric_id, seen in months.items():
        unit = values[(metric_id, "420000", seen[0])][2]
        y, m = int(min(seen)[:4]), int(min(seen)[5:7])
        while (month := f"{y:04d}-{m:02d}-01") <= max(seen):
            filled.setdefault((metric_id, "420000", month), ("province", 0.0, unit, None))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return filled


def test_mf_answers_every_metric_at_every_level_and_month_as_published_and_true(published_world, answers):
    # GIVEN the published file of a small world (its metrics equal the truth)
    # WHEN the semantic layer answers all 28 metrics by region and month at each level
    values = _semantic_values(answers)
    # THEN every metric has answers, and each answer is the published value; the published rows
    # it does not give are the province's zero months (no records: nothing for MetricFlow to add)
    assert {m for m, _, _ in values} == set(catalog())
    published = published_world.published_values()
    assert_matches_truth(_with_province_zeros(values), {k: (level, v) for k, (level, v, _, _) in published.items()})
    missing = {k for k in published if k not in values}
    assert missing and all(k[1] == "420000" and published[k][1] == 0 for k in missing)
    # AND equal the simulator's truth
    assert_matches_truth(_with_province_zeros(values), published_world.truth)


def test_mf_answers_orders_placed_by_industry_and_month_as_the_simulator_generated_them(published_world, answers):
    # GIVEN the orders the simulated platform serves at the world's clock, less those a correct
    # pipeline sets aside (the simulator's own screening) and the cancelled ones
    cfg, clock = WorldConfig(published_world.SEED, published_world.SCALE), parse_ts(published_world.CLOCK)
    kept = _screen_orders(cfg, clock, None, {})
    truth = Counter(
        (o["industry"], bj_month(parse_ts(o["placed_at"]))) for o in kept.values() if o["status"] != "cancelled"
    )
    # WHEN the semantic layer counts orders placed by the order's industry and month
    got = {
        (row["order__industry"], _month(row["metric_time__month"])): int(row["orders_placed"])
        for row in answers["rows"]["by industry"]
    }
    # THEN every industry and month has the simulator's count
    assert len(truth) > 10 and got == dict(truth)


def test_make_metrics_reuses_the_manifest_and_prints_mfs_table(published_world, answers, monkeypatch, capfd):
    # GIVEN the semantic manifest the answers were made from, newer than every project file
    monkeypatch.setenv("PLAN_METRICS_DATA_DIR", str(published_world.data_dir))
    assert semantic.up_to_date(Settings.from_env())
    # WHEN `make metrics` asks for the province's roadshows by month (what it runs: main)
    code = semantic.main(["--metrics", "roadshows_held", "--group-by", "metric_time__month", "--quiet"])
    out, err = capfd.readouterr()
    # THEN mf prints them without making the manifest again, one line per month with roadshows
    assert code == 0, err
    assert "Semantic manifest made" not in err and str(published_world.published_db) in err
    months = {k[2] for k, (_, v) in published_world.truth.items() if k[:2] == ("roadshows_held", "420000") and v}
    assert len(months) > 3 and all(month in out for month in months)


def test_mf_reads_the_published_file_without_writing_it(answers):
    # GIVEN the published file before the queries; WHEN mf has answered; THEN the file holds the
    # same bytes, and DuckDB left no write-ahead log beside it
    db = answers["db"]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == answers["sha256_before"]
    assert not db.with_name(db.name + ".wal").exists()


def test_mf_asks_no_one_on_the_network_whether_it_is_up_to_date(answers, tmp_path):
    # GIVEN a recorder of connections standing in as the proxy for every HTTP(S) request, and a
    # fresh temporary folder (mf's version check caches its answer there for an hour)
    listener = socket.create_server(("127.0.0.1", 0))
    seen = []

    def record():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            seen.append(conn.recv(200))
            conn.close()

    stop = threading.Event()
    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy", "http_proxy")}
    env.update(HTTPS_PROXY=proxy, HTTP_PROXY=proxy, TMPDIR=str(tmp_path))
    settings = Settings.from_env(env).with_data_dir(answers["db"].parents[1])
    try:
        # WHEN `make metrics` lists the metrics, and WHEN MetricFlow's own `mf` does the same
        ours = semantic.run_mf(settings, ["list", "metrics"], capture_output=True, text=True)
        ours_seen = list(seen)
        plain = semantic.mf_env(settings)
        stock = subprocess.run(
            [str(Path(sys.executable).with_name("mf")), "list", "metrics"],
            env=plain,
            cwd=settings.dbt_dir / "semantic",
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop.set()
        thread.join()
        listener.close()
    # THEN ours answers without a connection, where the stock `mf` asks PyPI (through the proxy)
    assert ours.returncode == 0, ours.stderr
    assert "orders_placed" in ours.stdout
    assert ours_seen == []
    assert stock.returncode == 0, stock.stderr
    assert any(b"pypi.org" in request for request in seen), seen
