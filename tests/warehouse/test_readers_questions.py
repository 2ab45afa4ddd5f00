"""The three worked questions of docs/readers.md, run as written on a published file and
checked against what the simulator generated.

The SQL is read from the page (the fenced block after each `<!-- question: NAME -->` marker),
so the docs cannot drift from what is tested. The truth is computed here in plain Python from
the simulator's records (the latest version of each record at the world's clock, screened as
a correct pipeline screens it), never from the pipeline's tables.
"""

from __future__ import annotations

import csv
import re
import shlex
import statistics
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from settings import Settings
from simulator import source_truth
from simulator.world import WorldConfig, parse_ts
from tests.conftest import PublishedWorld
from warehouse import semantic

pytestmark = pytest.mark.timeout(600)

READERS = Path(__file__).resolve().parents[2] / "docs" / "readers.md"
UNIVERSITY = re.compile("大学|学院")


def question_sql(name: str) -> str:
    """The SQL docs/readers.md shows for a question: the fenced sql block after its marker."""
    text = READERS.read_text(encoding="utf-8")
    found = re.search(rf"<!-- question: {name} -->\s*```sql\n(.*?)```", text, re.S)
    assert found, f"docs/readers.md has no question {name!r}"
    return found.group(1)


def question_q(name: str) -> list[str]:
    """The arguments of the `make metrics Q=…` docs/readers.md shows for a question, split as
    the Makefile's shell splits `$(Q)`."""
    text = READERS.read_text(encoding="utf-8")
    found = re.search(rf"<!-- question: {name} mf -->\s*```bash\n(make metrics Q=.*?)\n```", text, re.S)
    assert found, f"docs/readers.md has no semantic-layer form of {name!r}"
    (q,) = [a.removeprefix("Q=") for a in shlex.split(found.group(1)) if a.startswith("Q=")]
    return shlex.split(q)


@pytest.fixture(scope="module")
def mf(published_world, tmp_path_factory):
    """Run a question's `make metrics` arguments as `make metrics` does (warehouse.semantic's
    `mf`, on the published file) and read its answer: a list of {column: value}."""
    settings = Settings.from_env().with_data_dir(published_world.data_dir)
    semantic.semantic_manifest(settings)
    out = tmp_path_factory.mktemp("questions-mf")

    def run(name: str) -> list[dict]:
        argv = question_q(name)
        res = semantic.run_mf(
            settings, [*argv, "--csv", str(out / f"{name}.csv"), "--quiet"], capture_output=True, text=True
        )
        assert res.returncode == 0, f"mf {argv} failed:\n{res.stdout}\n{res.stderr}"
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    return run


def answer(published_world, name: str) -> list[tuple]:
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        return conn.execute(question_sql(name)).fetchall()


@pytest.fixture(scope="module")
def world() -> tuple[WorldConfig, int]:
    return WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE), parse_ts(PublishedWorld.CLOCK)


def test_resolved_fastest_gives_each_industrys_true_median_hours(published_world, world):
    # GIVEN the orders the simulator generated, as a correct pipeline keeps them at the clock
    cfg, clock = world
    hours = defaultdict(list)
    for o in source_truth._screen_orders(cfg, clock, None, {}).values():
        if o["status"] in ("resolved", "closed") and o.get("resolved_at"):
            spent = datetime.fromisoformat(o["resolved_at"]) - datetime.fromisoformat(o["placed_at"])
            hours[o["industry"]].append(spent.total_seconds() / 3600)
    truth = {industry: (len(h), statistics.median(h)) for industry, h in hours.items()}
    # WHEN the docs' query runs on the published file
    rows = answer(published_world, "resolved_fastest")
    # THEN every industry with a resolved order is there once, with its count and median hours,
    # fastest first
    assert len(truth) > 3
    assert len(rows) == len(truth)
    assert {industry: n for industry, n, _ in rows} == {industry: n for industry, (n, _) in truth.items()}
    # (the query rounds to a tenth of an hour)
    assert {industry: float(median) for industry, _, median in rows} == pytest.approx(
        {industry: median for industry, (_, median) in truth.items()}, abs=0.05 + 1e-9
    )
    medians = [float(median) for _, _, median in rows]
    assert medians == sorted(medians)


def test_university_contracts_are_the_true_contracts_of_university_projects(published_world, world):
    # GIVEN the projects of the held roadshows the simulator generated
    cfg, clock = world
    contracts, amounts = defaultdict(int), defaultdict(Decimal)
    for roadshow, projects in source_truth._screen_roadshows(cfg, clock, None, {}):
        if roadshow["status"] != "held":
            continue
        for p in projects:
            contracts[p["source_org"]] += p["signed_contracts"]
            amounts[p["source_org"]] += Decimal(p["contract_amount_cny"])
    universities = {org for org in contracts if UNIVERSITY.search(org)}
    # WHEN the docs' query runs on the published file
    rows = answer(published_world, "university_contracts")
    # THEN it lists exactly the universities, each with its true contracts and amount, and
    # leaves out the organisations that are not universities
    assert universities and universities != set(contracts), "the world has both kinds of organisation"
    assert {org: (int(n), Decimal(str(amount))) for org, n, amount in rows} == {
        org: (contracts[org], amounts[org]) for org in universities
    }
    assert sum(contracts[org] for org in universities) > 0


def test_university_contracts_from_the_semantic_layer_are_every_organisations_true_contracts(
    published_world, world, mf
):
    # GIVEN the contracts of every organisation's projects of held roadshows, from the simulator
    cfg, clock = world
    contracts = defaultdict(int)
    for roadshow, projects in source_truth._screen_roadshows(cfg, clock, None, {}):
        for p in projects if roadshow["status"] == "held" else ():
            contracts[p["source_org"]] += p["signed_contracts"]
    # WHEN the docs' `make metrics` runs on the published file
    rows = mf("university_contracts")
    # THEN each organisation has its true contracts, most first
    got = {r["project__source_org"]: int(float(r["roadshow_contracts_signed"])) for r in rows}
    assert got == dict(contracts)
    assert [got[r["project__source_org"]] for r in rows] == sorted(got.values(), reverse=True)


def test_october_students_are_the_true_top_five_stops(published_world, world):
    # GIVEN the stop-days the simulator generated, kept as a correct pipeline keeps them
    cfg, clock = world
    students, about = defaultdict(int), {}
    for stop, visits in source_truth._screen_stops(cfg, clock, None, {}):
        for v in visits:
            if date.fromisoformat(v["visit_date"]).strftime("%Y-%m") == "2021-10":
                students[stop["stop_id"]] += v["student_visitors"]
                about[stop["stop_id"]] = (stop["theme"], stop["venue_name"])
    top = sorted(students.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    # WHEN the docs' query runs on the published file
    rows = answer(published_world, "october_students")
    # THEN the five stops, their students, theme and venue are the truth's, most students first
    assert len(top) == 5
    assert [(stop_id, int(n)) for stop_id, _, _, _, n in rows] == top
    assert [(theme, venue) for _, theme, _, venue, _ in rows] == [about[stop_id] for stop_id, _ in top]
    assert all(county for _, _, county, _, _ in rows)


def test_october_students_from_the_semantic_layer_are_the_true_top_five_stops(published_world, world, mf):
    # GIVEN October 2021's student visitors of each stop, from the simulator
    cfg, clock = world
    students, themes = defaultdict(int), {}
    for stop, visits in source_truth._screen_stops(cfg, clock, None, {}):
        for v in visits:
            if v["visit_date"].startswith("2021-10"):
                students[stop["stop_id"]] += v["student_visitors"]
                themes[stop["stop_id"]] = stop["theme"]
    top = sorted(students.values(), reverse=True)[:5]
    # WHEN the docs' `make metrics` runs on the published file
    rows = mf("october_students")
    # THEN it lists five stops with their true students and theme, the five largest
    got = [(r["stop"], r["stop__theme"], int(float(r["mobile_museum_student_visitors"]))) for r in rows]
    assert [n for _, _, n in got] == top
    assert all(students[stop] == n and themes[stop] == theme for stop, theme, n in got)
