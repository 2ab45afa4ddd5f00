"""The landing zone heals: a landed run whose part fails its checksum, whose part is missing,
or whose manifest a power loss left empty is set aside (moved to `_corrupt/` with its
reason, recorded in the quarantine) instead of blocking every later load of its endpoint,
and the next extract asks the source again for what it held."""

from __future__ import annotations

import duckdb
import pytest

from extract.api import extract_endpoint
from extract.http_client import ApiClient
from extract.landing import landed_runs
from extract.sources import ORDERS
from settings import Settings
from simulator import orders as sim_orders
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from warehouse.raw_load import load_endpoint, read_watermark

SEED, SCALE = 8, 0.05
CLOCK_1 = "2021-03-31T23:59:59+08:00"
CLOCK_2 = "2021-06-30T23:59:59+08:00"


def damage_part(run_dir):
    part = next(run_dir.glob("*.part-*.jsonl"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))


def remove_part(run_dir):
    next(run_dir.glob("*.part-*.jsonl")).unlink()


def empty_manifest(run_dir):
    (run_dir / "_manifest.json").write_bytes(b"")


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(damage_part, "fails its checksum", id="part-fails-its-checksum"),
        pytest.param(remove_part, "is missing", id="part-missing"),
        pytest.param(empty_manifest, "manifest cannot be read", id="manifest-left-empty"),
    ],
)
def test_a_broken_landed_run_is_set_aside_and_the_next_run_reads_the_source_again(tmp_path, damage, says):
    landing, db = tmp_path / "landing", tmp_path / "w.duckdb"
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1) as sim:
        src = sim.source("kechuang_orders")
        # GIVEN a landed run that is damaged before it is loaded
        extract_endpoint(ApiClient(src["base_url"], src["token"]), ORDERS, landing, "run1", None, limit=50)
        (run1,) = [d for d in (landing / "kechuang_orders" / "orders").iterdir()]
        damage(run1)
        # WHEN the load runs THEN it does not fail: the run is set aside with its reason
        with duckdb.connect(str(db)) as conn:
            assert load_endpoint(conn, ORDERS, landing)["inserted"] == 0
            reasons = conn.execute("select reason, file from meta.quarantine").fetchall()
        (aside,) = list((landing / "kechuang_orders" / "orders" / "_corrupt").iterdir())
        assert says in (aside / "REASON.txt").read_text() and says in reasons[0][0] and reasons[0][1] == str(aside)
        assert landed_runs(landing, "kechuang_orders", "orders") == []
        # WHEN the source moves on and the next run extracts and loads
        sim.set_clock(CLOCK_2)
        watermark = read_watermark(db, ORDERS, Settings.from_env())
        assert watermark is None, "nothing of the broken run was loaded: the watermark did not move"
        extract_endpoint(ApiClient(src["base_url"], src["token"]), ORDERS, landing, "run2", watermark, limit=50)
        with duckdb.connect(str(db)) as conn:
            load_endpoint(conn, ORDERS, landing)
            got = {r[0] for r in conn.execute("select distinct order_id from raw.kechuang_orders__orders").fetchall()}
    # THEN the raw layer holds every order the source holds: nothing of the broken run is lost
    truth = sim_orders.visible(sim_orders.order_versions(WorldConfig(SEED, SCALE)), parse_ts(CLOCK_2))
    assert got == set(truth)
