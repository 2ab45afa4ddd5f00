"""The S3 extractor against the simulator over real HTTP (no mocks): cursor pagination,
incremental watermarks, retries under transport faults, personal data, bad tokens."""

from __future__ import annotations

import json

import duckdb
import pytest

from extract.api import extract_endpoint, prepare
from extract.beijing_time import parse_ts as instant
from extract.http_client import ApiClient, SourceError
from extract.landing import landed_runs
from extract.sources import ORDERS, SERVICE_TEAMS
from settings import Settings
from simulator import orders as sim_orders
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from warehouse.raw_load import load_endpoint, read_watermark, rebuild_from_landing

SEED, SCALE = 7, 0.1
CFG = WorldConfig(SEED, SCALE)
MID = "2021-03-31T23:59:59+08:00"
END = "2021-12-31T23:59:59+08:00"


def true_current(entity_versions, clock: str) -> dict[str, dict]:
    return {k: v.body for k, v in sim_orders.visible(entity_versions, parse_ts(clock)).items()}


def client_for(sim, **kw) -> ApiClient:
    src = sim.source("kechuang_orders")
    return ApiClient(src["base_url"], src["token"], **kw)


def extract_and_load(sim, tmp_path, run_key, limit=50):
    db = tmp_path / "work.duckdb"
    landing = tmp_path / "landing"
    client = client_for(sim)
    for ep in (ORDERS, SERVICE_TEAMS):
        extract_endpoint(client, ep, landing, run_key, read_watermark(db, ep, Settings.from_env()), limit=limit)
    with duckdb.connect(str(db)) as conn:
        for ep in (ORDERS, SERVICE_TEAMS):
            load_endpoint(conn, ep, landing)
    return db


def latest_raw(db) -> dict[str, dict]:
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            """select order_id, status, updated_at, cast_paid_cny, tech_transaction_cny, accepted_at, resolved_at
               from raw.kechuang_orders__orders
               qualify row_number() over (partition by order_id order by _landed_at desc, _seq desc) = 1"""
        ).fetchall()
    return {
        r[0]: dict(
            zip(
                [
                    "order_id",
                    "status",
                    "updated_at",
                    "cast_paid_cny",
                    "tech_transaction_cny",
                    "accepted_at",
                    "resolved_at",
                ],
                r,
                strict=False,
            )
        )
        for r in rows
    }


def project(body: dict) -> dict:
    return {
        k: body[k]
        for k in (
            "order_id",
            "status",
            "updated_at",
            "cast_paid_cny",
            "tech_transaction_cny",
            "accepted_at",
            "resolved_at",
        )
    }


def test_a_full_then_incremental_extract_holds_exactly_the_latest_version_of_every_order(tmp_path):
    # GIVEN the source at the end of March 2021
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE, clock=MID) as sim:
        # WHEN the first run extracts everything (small pages) and loads it
        db = extract_and_load(sim, tmp_path, "run1", limit=37)
        # THEN the raw layer's latest versions are exactly the source's current records
        assert latest_raw(db) == {k: project(v) for k, v in true_current(sim_orders.order_versions(CFG), MID).items()}
        # WHEN the world moves on and a second run extracts incrementally
        sim.set_clock(END)
        db = extract_and_load(sim, tmp_path, "run2", limit=37)
        assert latest_raw(db) == {k: project(v) for k, v in true_current(sim_orders.order_versions(CFG), END).items()}
    with duckdb.connect(str(db), read_only=True) as conn:
        runs = dict(
            conn.execute(
                "select manifest_id, records_received from meta.extract_runs where endpoint = 'orders'"
            ).fetchall()
        )
        total_current = len(true_current(sim_orders.order_versions(CFG), END))
        # THEN the second run fetched only what changed since the watermark (plus the overlap)
        assert runs["kechuang_orders/orders/run2"] < total_current
        wm = conn.execute("select watermark from meta.watermarks where endpoint = 'orders'").fetchone()[0]
    latest_update = max(parse_ts(v["updated_at"]) for v in true_current(sim_orders.order_versions(CFG), END).values())
    assert parse_ts(wm) == latest_update


def test_loading_the_same_landed_runs_again_changes_nothing_and_a_rebuild_from_landing_is_identical(tmp_path):
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE, clock=MID) as sim:
        db = extract_and_load(sim, tmp_path, "run1")
        sim.set_clock(END)
        db = extract_and_load(sim, tmp_path, "run2")
    cols = "* exclude (_loaded_at)"
    with duckdb.connect(str(db)) as conn:
        before = conn.execute(f"select {cols} from raw.kechuang_orders__orders order by all").fetchall()
        # GIVEN everything already loaded WHEN loading again THEN nothing is inserted
        assert load_endpoint(conn, ORDERS, tmp_path / "landing")["inserted"] == 0
        # WHEN the raw table is rebuilt from the landing zone alone THEN it is the same table
        rebuild_from_landing(conn, ORDERS, tmp_path / "landing")
        after = conn.execute(f"select {cols} from raw.kechuang_orders__orders order by all").fetchall()
    assert after == before
    assert len(landed_runs(tmp_path / "landing", "kechuang_orders", "orders")) == 2


def test_personal_data_never_reaches_the_landing_zone(tmp_path):
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE) as sim:
        body = client_for(sim).get_json("/v1/orders", {"limit": 5})
        assert all("contact_phone" in rec for rec in body["data"])  # the source does send phones
        extract_and_load(sim, tmp_path, "run1")
    phones = {v.body["contact_phone"] for v in sim_orders.order_versions(CFG)}
    landed = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "landing").rglob("*.jsonl"))
    assert "contact_phone" not in landed
    assert not any(phone in landed for phone in list(phones)[:200])


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("rate_limit=0.3", id="429-with-retry-after"),
        pytest.param("server_error=0.3", id="500-and-503"),
        pytest.param("drop=0.3", id="connection-dropped-mid-body"),
    ],
)
def test_transport_faults_are_retried_and_no_page_is_skipped(tmp_path, fault):
    # GIVEN a source that fails 30 % of requests in one way
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE, faults=[f"kechuang_orders:{fault}"]) as sim:
        client = client_for(sim, backoff_factor=0.01)
        # WHEN the extractor reads every page
        m = extract_endpoint(client, ORDERS, tmp_path / "landing", "run1", None, limit=40)
    # THEN it retried and still landed every current order exactly once
    assert m.retries > 0
    rows = [
        json.loads(line) for p in (tmp_path / "landing").rglob("*.part-*.jsonl") for line in p.read_text().splitlines()
    ]
    assert sorted(r["order_id"] for r in rows) == sorted(true_current(sim_orders.order_versions(CFG), END))


def test_a_refused_token_is_a_clear_error_not_a_retry_loop(tmp_path):
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE) as sim:
        client = ApiClient(sim.source("kechuang_orders")["base_url"], "not-the-token")
        with pytest.raises(SourceError, match="401"):
            client.get_json("/v1/orders", {"limit": 1})


def test_a_source_that_keeps_failing_gives_up_after_bounded_retries(tmp_path):
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE, faults=["kechuang_orders:server_error=1"]) as sim:
        client = client_for(sim, total_retries=3, backoff_factor=0.01)
        with pytest.raises(SourceError, match="failed after 3 retries"):
            client.get_json("/v1/orders", {"limit": 1})


def test_unknown_fields_are_kept_in_extra_and_personal_fields_dropped_before_landing():
    # GIVEN a page with a field the contract does not name and a phone number
    record = {
        "order_id": "O1",
        "status": "placed",
        "updated_at": "2020-08-01T10:00:00+08:00",
        "county_code": "420102",
        "placed_at": "2020-08-01T10:00:00Z",
        "enterprise_size": "small",
        "channel": "wechat",
        "contact_phone": "13800000000",
    }
    page = [record]
    # WHEN the extractor prepares it for landing
    stamps = prepare(ORDERS, page, 7, instant(END))
    # THEN the unknown field is kept in _extra and reported, the phone is gone, the row is numbered
    assert page[0]["_extra"] == {"channel": "wechat"} and "channel" not in page[0]
    assert "contact_phone" not in page[0] and page[0]["_seq"] == 7
    assert stamps.new_fields == {"channel"} and stamps.newest == instant("2020-08-01T10:00:00+08:00")


def test_a_source_clock_running_ahead_never_moves_the_watermark_and_later_changes_still_arrive(tmp_path):
    # GIVEN a source that stamps some versions 30 years ahead (a clock running ahead)
    with SimulatorProcess(
        tmp_path / "sim", seed=SEED, scale=SCALE, clock=MID, faults=["kechuang_orders:skew=0.1"]
    ) as sim:
        db = extract_and_load(sim, tmp_path, "run1")
        # THEN they are loaded, counted as clock skew, and the watermark stays at a stamp it can trust
        with duckdb.connect(str(db), read_only=True) as conn:
            skewed = conn.execute(
                "select sum(clock_skewed) from meta.extract_runs where endpoint = 'orders'"
            ).fetchone()[0]
            future = conn.execute(
                "select count(*) from raw.kechuang_orders__orders where updated_at::timestamptz > now()"
            ).fetchone()[0]
        assert skewed > 0 and future == skewed
        assert parse_ts(read_watermark(db, ORDERS, Settings.from_env())) <= parse_ts(MID)
        # WHEN the weeks go by and the next run extracts
        sim.set_clock(END)
        db = extract_and_load(sim, tmp_path, "run2")
    # THEN every resolution, cancellation and new order since arrived: each order's latest version
    # received is the source's current one (a version stamped in 2051 does not outrank them)
    truth = true_current(sim_orders.order_versions(CFG), END)
    got = latest_raw(db)
    assert set(got) == set(truth)
    wrong = [k for k, body in truth.items() if got[k]["status"] != body["status"]]
    assert not wrong, wrong[:5]
    # AND the gate will report the skew as a warning with examples
    from expectations.quarantine import extraction_checks

    with duckdb.connect(str(db)) as conn:
        from warehouse import meta

        meta.ensure(conn)
        skew = [c for c in extraction_checks(conn) if c.check == "clock_skew"]
    assert skew and all(c.severity == "warn" and not c.success and c.sample for c in skew)


def test_a_watermark_stored_in_the_future_is_not_trusted_and_is_repaired(tmp_path):
    with SimulatorProcess(tmp_path / "sim", seed=SEED, scale=SCALE, clock=MID) as sim:
        db = extract_and_load(sim, tmp_path, "run1")
        # GIVEN a watermark poisoned by a skewed stamp before watermarks were bounded
        with duckdb.connect(str(db)) as conn:
            conn.execute("update meta.watermarks set watermark = '2051-01-01T00:00:00+08:00' where endpoint = 'orders'")
        sim.set_clock(END)
        # WHEN the next run extracts and loads
        db = extract_and_load(sim, tmp_path, "run2")
    # THEN it read from the start, the raw layer is complete, and the watermark is back in the present
    assert set(latest_raw(db)) == set(true_current(sim_orders.order_versions(CFG), END))
    assert parse_ts(read_watermark(db, ORDERS, Settings.from_env())) <= parse_ts(END)
