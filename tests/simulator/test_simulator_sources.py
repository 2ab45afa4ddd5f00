"""A simulated source is one registration: the server, the store, the faults and the truth
read `simulator.sources.SOURCES`, so a toy source added there is served, takes its faults and
has its truth, with nothing else edited."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from simulator import sources, truth
from simulator.orders import Version
from simulator.server import SimState, start_servers
from simulator.store import VersionStore
from simulator.world import WorldConfig, bj_iso, parse_ts

CFG = WorldConfig(seed=5, scale=0.02)
PLACED = parse_ts("2021-03-10T09:00:00+08:00")
CLOCK = parse_ts("2021-06-30T23:59:59+08:00")


def toy_versions(cfg: WorldConfig):
    for n in range(1, 4):
        at = PLACED + n * 86400
        yield Version(
            "toy_events", f"T{n}", 1, at, {"event_id": f"T{n}", "county_code": "420102", "updated_at": bj_iso(at)}
        )


def toy_truth(cfg, clock, faults, _sent):
    return {("toy_events_held", "420000", "2021-03-01"): ("province", 3.0)}


TOY = sources.SimulatedSource(
    name="toy_source",
    code="S9",
    routes={"/v1/toy-events": "toy_events"},
    versions=(toy_versions,),
    units={"toy_events_held": "count"},
    truth=toy_truth,
)


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setattr(sources, "SOURCES", (*sources.SOURCES, TOY))


def test_the_five_sources_are_registered_once_each_with_the_http_ones_in_port_order():
    assert [s.code for s in sources.SOURCES] == ["S3", "S1", "S2", "S4", "S5"]
    assert [s.name for s in sources.http_sources()] == ["kechuang_orders", "scipop_platform", "kechuang_roadshows"]
    assert [s.name for s in sources.drop_sources()] == ["rural_centre_reports", "plan_ledger"]
    assert truth.ALL_SOURCES == ("S1", "S2", "S3", "S4", "S5")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        pytest.param("toy_source:rate_limit=0.5,ties=0.2", None, id="http-faults"),
        pytest.param("toy_source:broken=0.1", "apply to drop folders only", id="drop-fault-refused"),
        pytest.param("toy_source:unordered=1", "pages by cursor", id="offset-fault-refused"),
        pytest.param("plan_ledger:missing=0.1", "is a drop folder", id="http-fault-on-a-drop-folder"),
        pytest.param("nowhere:drift=0.1", "unknown source", id="unknown-source"),
    ],
)
def test_the_faults_a_source_takes_come_from_its_registration(with_toy, spec, error):
    if error is None:
        assert sources.parse_specs([spec])["toy_source"].rate_limit == 0.5
    else:
        with pytest.raises(ValueError, match=error):
            sources.parse_specs([spec])


def test_a_registered_source_is_stored_and_served_on_the_port_after_the_others(with_toy, tmp_path):
    # GIVEN the toy source registered after the five
    store = VersionStore(tmp_path / "world.sqlite")
    store.rebuild("toy", sources.all_versions(CFG))
    state = SimState(store=store, clock=CLOCK)
    # WHEN the simulator serves the registry on consecutive free ports
    servers = start_servers(state, "127.0.0.1", 0)
    try:
        # THEN the toy source has a server of its own, last, with its own token
        assert list(servers) == [s.name for s in sources.SOURCES if s.is_http]
        url = f"http://127.0.0.1:{servers['toy_source'].server_address[1]}/v1/toy-events"
        assert requests.get(url, timeout=10).status_code == 401
        resp = requests.get(url, headers={"Authorization": f"Bearer {state.tokens['toy_source']}"}, timeout=10)
        # AND serves its generated records, keyset-paged
        body = resp.json()
        assert [r["event_id"] for r in body["data"]] == ["T1", "T2", "T3"] and body["next_cursor"] is None
        assert body["data"][0]["county_code"] == "420102"
    finally:
        for server in servers.values():
            server.shutdown()


def test_a_registered_sources_truth_is_part_of_the_metric_values(with_toy, monkeypatch):
    values = truth.metric_values(CFG, CLOCK, sources=("S9",))
    assert values == {("toy_events_held", "420000", "2021-03-01"): ("province", 3.0)}
    # its metrics' units come from the registration too (province zero-fill between months)
    later = replace(
        TOY, truth=lambda *_: {**toy_truth(*_), ("toy_events_held", "420000", "2021-05-01"): ("province", 1.0)}
    )
    monkeypatch.setattr(sources, "SOURCES", (*sources.SOURCES[:-1], later))
    filled = truth.metric_values(CFG, CLOCK, sources=("S9",))
    assert filled[("toy_events_held", "420000", "2021-04-01")] == ("province", 0.0)


def test_every_source_of_the_pipelines_registry_is_simulated_with_its_code_kind_paths_and_paging():
    from extract.sources import SOURCES as PIPELINE

    simulated = {s.name: s for s in sources.SOURCES}
    assert set(simulated) == set(PIPELINE)
    for name, source in PIPELINE.items():
        sim = simulated[name]
        assert (sim.code, sim.is_http) == (source.code, source.kind == "http"), name
        assert set(sim.routes) == {ep.path for ep in source.endpoints}, name
        assert {ep.pagination for ep in source.endpoints} <= {sim.paging}, name
