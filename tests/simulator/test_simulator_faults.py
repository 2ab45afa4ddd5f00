"""Every record fault switch of the simulator produces the fault it names, over real HTTP,
and a plain simulator serves the same bytes for the same seed."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import requests

from simulator.faults import DRIFT_FIELDS, missing_field
from simulator.process import SimulatorProcess

SEED, SCALE = 5, 0.05
FAULTS = [
    "scipop_platform:shift=1,drift=0.3,missing=0.3",
    "kechuang_roadshows:backwards=0.5",
    "kechuang_orders:ties=0.6,slow=1,slow_seconds=0.3",
]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    with SimulatorProcess(tmp_path_factory.mktemp("faulty"), seed=SEED, scale=SCALE, faults=FAULTS) as sim:
        yield sim


def get(sim, source: str, path: str, **params) -> dict:
    src = sim.source(source)
    r = requests.get(
        src["base_url"] + path, params=params, headers={"Authorization": f"Bearer {src['token']}"}, timeout=30
    )
    r.raise_for_status()
    return r.json()


def cursor_pages(sim, source: str, path: str, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        body = get(sim, source, path, limit=limit, **({"cursor": cursor} if cursor else {}))
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if not cursor:
            return pages


def ts(record: dict) -> datetime:
    return datetime.fromisoformat(record["updated_at"])


def all_offset(sim, path: str, size: int) -> tuple[list[dict], int]:
    items, page = [], 1
    while True:
        body = get(sim, "scipop_platform", path, page=page, page_size=size)
        if not body["items"]:
            return items, body["total"]
        items += body["items"]
        page += 1


def test_shift_makes_an_offset_reader_miss_and_repeat_rows(faulty):
    # GIVEN S1 with the shifting-pages fault WHEN a client pages the stops by offset
    items, total = all_offset(faulty, "/api/v1/exhibition-stops", 10)
    ids = [i["stop_id"] for i in items]
    # THEN it sees some stops twice and misses others, although the total did not change
    assert len(ids) != len(set(ids)), "a moved record is served again at the end"
    assert len(set(ids)) < total, "rows shifted past the reader were lost"


def test_missing_removes_the_required_field_of_exactly_the_announced_records(faulty):
    items, _ = all_offset(faulty, "/api/v1/rural-centres", 100)
    stripped = {i["centre_id"] for i in items if "county_code" not in i}
    expected = {i["centre_id"] for i in items if missing_field("rural_centres", i["centre_id"], 0.3)}
    assert stripped and stripped == expected


def test_drift_adds_new_fields_to_some_records(faulty):
    items, _ = all_offset(faulty, "/api/v1/rural-centres", 100)
    drifted = [i for i in items if set(DRIFT_FIELDS) <= set(i)]
    assert 0 < len(drifted) < len(items)


def test_backwards_serves_updated_at_earlier_than_the_previous_page(faulty):
    pages = cursor_pages(faulty, "kechuang_roadshows", "/v1/roadshow-projects", 3)
    went_back = sum(1 for a, b in zip(pages, pages[1:], strict=False) if a and b and min(map(ts, b)) < max(map(ts, a)))
    assert went_back > 0


def test_slow_delays_every_response(faulty):
    start = time.monotonic()
    get(faulty, "kechuang_orders", "/v1/service-teams", limit=1)
    assert time.monotonic() - start >= 0.3


@pytest.mark.parametrize(
    ("source", "path", "params"),
    [
        pytest.param("scipop_platform", "/api/v1/stop-visits", {"page": 2, "page_size": 50}, id="S1-offset"),
        pytest.param("kechuang_roadshows", "/v1/roadshow-projects", {"limit": 50}, id="S2-cursor"),
    ],
)
def test_same_seed_serves_identical_pages(tmp_path, source, path, params):
    bodies = []
    for run in ("a", "b"):
        with SimulatorProcess(tmp_path / run, seed=SEED, scale=SCALE) as sim:
            src = sim.source(source)
            r = requests.get(src["base_url"] + path, params=params, headers={"Authorization": f"Bearer {src['token']}"})
            bodies.append(r.content)
    assert bodies[0] == bodies[1] and len(bodies[0]) > 200
