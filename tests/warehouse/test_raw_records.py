"""The load's checks and content hash (`warehouse/raw_records.py`) over real HTTP and real
DuckDB files: what a bad record becomes in `meta.quarantine`, what makes a version new, and
the one-time migration of raw rows an older loader hashed in Python.

`fixtures/landing_v2/` holds runs landed by the extractor before the hash moved into SQL
(manifest version 2; see `fixtures/README.md`): seven runs of every HTTP endpoint of the
simulator with record faults on — missing fields, drift, ties, backwards and skewed clocks —
the last a full re-read, so most records arrive more than once. Their rows carry the old
hash (sha256 of the record's canonical JSON), computed by that code."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from extract.api import extract_endpoint
from extract.beijing_time import parse_ts
from extract.landing import MANIFEST, landed_runs
from extract.sources import ORDERS, all_endpoints
from tests.extract.test_source_misbehaviour import FakeSource, json_body
from warehouse import meta, raw_records
from warehouse.raw_load import load_endpoint, raw_columns, rebuild_from_landing

FIXTURE = Path(__file__).parent / "fixtures" / "landing_v2"

GOOD = {
    "order_id": "O-good",
    "enterprise_id": "E1",
    "enterprise_name": "武汉光谷科技有限公司",
    "enterprise_size": "small",
    "county_code": "420102",
    "industry": "光电子信息",
    "demand_type": "技术攻关",
    "placed_at": "2020-08-01T10:00:00+08:00",
    "status": "placed",
    "service_team_id": None,
    "accepted_at": None,
    "resolved_at": None,
    "cast_paid_cny": "0.00",
    "tech_transaction_cny": "0.00",
    "satisfaction": None,
    "contact_phone": "13800000000",
    "updated_at": "2020-08-01T10:00:00+08:00",
}


def order(order_id: str, drop: tuple[str, ...] = (), **fields) -> dict:
    rec = {**GOOD, "order_id": order_id, **fields}
    for name in drop:
        del rec[name]
    return rec


def land_and_load(tmp_path: Path, records: list[dict], run_key: str = "run1") -> tuple[Path, dict]:
    """`records` served as one page of a cursor API, extracted over HTTP and loaded."""
    src = FakeSource(lambda path, q: json_body({"data": records, "next_cursor": None}))
    try:
        extract_endpoint(src.client(), ORDERS, tmp_path / "landing", run_key, None)
    finally:
        src.close()
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as conn:
        return db, load_endpoint(conn, ORDERS, tmp_path / "landing")


# (record, column, value, reason): value is the offending JSON text for a type, the string
# for a timestamp
BAD = [
    pytest.param(
        order("O-missing", drop=("enterprise_size",)),
        "enterprise_size",
        None,
        "missing required field",
        id="missing-field",
    ),
    pytest.param(order("O-empty", county_code=""), "county_code", None, "missing required field", id="empty-required"),
    pytest.param(order("O-null", status=None), "status", None, "missing required field", id="null-required"),
    pytest.param(
        order("O-five", satisfaction="five"), "satisfaction", "five", "expected bigint", id="string-for-bigint"
    ),
    pytest.param(
        order("O-bool", satisfaction=True), "satisfaction", "true", "expected bigint", id="bool-is-not-bigint"
    ),
    pytest.param(
        order("O-float", satisfaction=4.5), "satisfaction", "4.5", "expected bigint", id="float-is-not-bigint"
    ),
    pytest.param(
        order("O-huge", satisfaction=2**64),
        "satisfaction",
        "number-like text, 20 characters",  # a run of digits as long as a phone number is never shown
        "expected bigint",
        id="beyond-64-bits",
    ),
    pytest.param(
        order("O-num", county_code=420102), "county_code", "420102", "expected varchar", id="number-is-not-varchar"
    ),
    pytest.param(
        order("O-nan", satisfaction=float("nan")), "satisfaction", "NaN", "non-finite number", id="nan-in-a-bigint"
    ),
    pytest.param(
        order("O-inf", county_code=float("inf")),
        "county_code",
        "Infinity",
        "non-finite number",
        id="infinity-in-a-varchar",
    ),
    pytest.param(
        order("O-ninf", satisfaction=float("-inf")),
        "satisfaction",
        "-Infinity",
        "non-finite number",
        id="minus-infinity-in-a-bigint",
    ),
    pytest.param(
        order("O-phone", satisfaction="张三 13800138000"),
        "satisfaction",
        "text, 14 characters",
        "expected bigint",
        id="a-name-and-phone-never-shown",
    ),
    pytest.param(
        order("O-obj", enterprise_name={"zh": "某公司"}),
        "enterprise_name",
        "text, 12 characters",  # text is shown by its kind and length only (it may be a person's)
        "expected varchar",
        id="object-is-not-varchar",
    ),
    pytest.param(
        order("O-long", satisfaction="x" * 300),
        "satisfaction",
        "text, 300 characters",
        "expected bigint",
        id="long-text-by-kind-and-length",
    ),
    pytest.param(
        order("O-first", drop=("enterprise_size",), satisfaction="five"),
        "enterprise_size",
        None,
        "missing required field",
        id="required-checked-before-types",
    ),
    pytest.param(
        order("O-stamp-type", updated_at=1596247200),
        "updated_at",
        "number-like text, 10 characters",  # digits as long as a phone number: never shown
        "expected varchar",
        id="types-checked-before-the-stamp",
    ),
    pytest.param(
        order("O-stamp", updated_at="yesterday"), "updated_at", "yesterday", "unparseable timestamp", id="bad-timestamp"
    ),
    pytest.param(
        order("O-24h", updated_at="2020-08-01T24:00:00+08:00"),
        "updated_at",
        "2020-08-01T24:00:00+08:00",
        "unparseable timestamp",
        id="hour-24-python-cannot-read",
    ),
]


@pytest.fixture(scope="module")
def loaded_page(tmp_path_factory):
    """One page: every bad record above, a good one, the good one again and a bad one again
    (a page read twice), extracted and loaded once."""
    tmp = tmp_path_factory.mktemp("bad_records")
    bad = [p.values[0] for p in BAD]
    good = order("O-good", _note="kept")
    page = [*bad, good, dict(good), dict(bad[0])]
    db, totals = land_and_load(tmp, page)
    return db, totals, len(page), len(bad)


@pytest.mark.parametrize(("record", "column", "value", "reason"), BAD)
def test_a_bad_record_is_quarantined_at_load_with_its_column_value_and_reason(
    loaded_page, record, column, value, reason
):
    db, _, _, _ = loaded_page
    with duckdb.connect(str(db), read_only=True) as conn:
        entries = conn.execute(
            "select column_name, value, reason, record from meta.quarantine where record->>'order_id' = ?",
            [record["order_id"]],
        ).fetchall()
        in_raw = conn.execute(
            f"select count(*) from {ORDERS.raw_table} where order_id = ?", [record["order_id"]]
        ).fetchone()[0]
    # THEN it is set aside once, with the first check it fails, and none of it reaches raw
    assert [(c, v, r) for c, v, r, _ in entries] == [(column, value, reason)]
    assert in_raw == 0
    # AND the record is kept as it came, without the personal field
    kept = json.loads(entries[0][3])
    assert "contact_phone" not in kept
    as_sent = {k: v for k, v in record.items() if k != "contact_phone"}
    assert json.dumps({k: kept.get(k) for k in as_sent}) == json.dumps(as_sent)  # NaN too


def test_the_run_counts_received_new_duplicate_and_quarantined_records(loaded_page):
    db, totals, received, bad = loaded_page
    with duckdb.connect(str(db), read_only=True) as conn:
        stats = conn.execute(
            "select records_received, rows_landed, new_records, updated_records, duplicate_versions, quarantined "
            "from meta.extract_runs"
        ).fetchall()
        good = conn.execute(f"select order_id, _extra from {ORDERS.raw_table}").fetchall()
    # THEN the good record is one version with its unknown field kept, the bad one read twice is one entry
    assert good == [("O-good", '{"_note":"kept"}')]
    assert stats == [(received, received, 1, 0, 1, bad)]
    assert totals == {"manifests": 1, "inserted": 1, "quarantined": bad}


STAMPS = {
    # accepted: what the sources write, and the ISO forms both Python and DuckDB read
    "2020-08-01T10:00:00+08:00": True,
    "2020-08-01T02:00:00Z": True,
    "2020-08-01T10:00:00.123456+08:00": True,
    "2020-08-01T10:00:00+0800": True,
    "2020-08-01 10:00:00": True,
    "2020-08-01": True,
    # quarantined: not a time, or a form only one side reads (staging's cast would fail, or
    # the watermark could not use it)
    "yesterday": False,
    "2020-02-30T10:00:00+08:00": False,
    "2020-08-01T24:00:00+08:00": False,
    "20200801T100000": False,
    "2020-W31-1": False,
    "2020-08-01T10": False,
    "0000-01-01": False,
    "10000-01-01": False,
    "infinity": False,
    "epoch": False,
    "2020-08-01 10:00:00 Asia/Shanghai": False,
    " 2020-08-01": False,
    "2020-8-1": False,
    "2020-08-01T10:00:00+24:00": False,
}


def test_a_stamp_the_load_accepts_is_one_the_watermark_and_staging_can_read(tmp_path):
    # GIVEN one order per candidate `updated_at`
    records = [order(f"O-{i}", updated_at=stamp) for i, stamp in enumerate(STAMPS)]
    # WHEN they are extracted and loaded
    db, _ = land_and_load(tmp_path, records)
    with duckdb.connect(str(db), read_only=True) as conn:
        loaded = {r[0] for r in conn.execute(f"select updated_at from {ORDERS.raw_table}").fetchall()}
        # staging casts every loaded stamp (this fails if one cannot be read)
        conn.execute(f"select cast(updated_at as timestamptz) from {ORDERS.raw_table}").fetchall()
    # THEN exactly the accepted ones are loaded, and Python reads every one of them
    assert loaded == {s for s, ok in STAMPS.items() if ok}
    assert all(parse_ts(s) for s in loaded)


def old_hash(record: dict) -> str:
    """The content hash before it moved into SQL (extract/api.py at fc1f234), for comparison."""
    rec = {k: v for k, v in record.items() if k not in ORDERS.personal}
    canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(rec)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _reordered(rec: dict) -> dict:
    return dict(reversed(list(rec.items())))


# (first version, second version, the same version?, does the old hash agree?)
PAIRS = {
    "fields-in-another-order": (order("P1"), _reordered(order("P1")), True, True),
    "another-phone-number": (order("P2"), order("P2", contact_phone="13900000000"), True, True),
    "unknown-fields-in-another-order": (order("P3", a=1, b="x"), order("P3", b="x", a=1), True, True),
    "a-changed-value": (order("P4"), order("P4", status="accepted"), False, True),
    "a-changed-unknown-field": (order("P5", remark="a"), order("P5", remark="b"), False, True),
    "an-unknown-field-added": (order("P6"), order("P6", remark="a"), False, True),
    "a-number-in-an-unknown-field-vs-a-string": (order("P7", v=1), order("P7", v="1"), False, True),
    # the one difference: the raw row holds NULL either way, so the SQL hash cannot tell them
    # apart; the old hash (of the JSON received) could
    "a-field-sent-as-null-vs-left-out": (order("P8"), order("P8", drop=("accepted_at",)), True, False),
}


def test_what_makes_a_new_version_and_where_the_old_hash_agreed(tmp_path):
    # GIVEN two versions of each of a set of orders, landed in two runs
    first = [a for a, _, _, _ in PAIRS.values()]
    second = [b for _, b, _, _ in PAIRS.values()]
    land_and_load(tmp_path, [dict(r) for r in first], "run1")
    db, _ = land_and_load(tmp_path, [dict(r) for r in second], "run2")
    with duckdb.connect(str(db), read_only=True) as conn:
        versions = dict(conn.execute(f"select order_id, count(*) from {ORDERS.raw_table} group by order_id").fetchall())
    for name, (a, b, same, old_agrees) in PAIRS.items():
        # THEN the raw table holds one version or two, as stated
        assert versions[a["order_id"]] == (1 if same else 2), name
        # AND the old hash told them apart the same way, except where stated
        assert (old_hash(a) == old_hash(b)) == (same if old_agrees else not same), name


def landed_rows_with_both_hashes(conn, ep) -> str:
    """Every row the fixture landed for `ep`, typed, with its old hash and the new one."""
    files = [str(r.path(p.name)) for r in landed_runs(FIXTURE, ep.source, ep.name) for p in r.manifest.parts]
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in raw_columns(ep).items()) + "}"
    return f"""
        select {", ".join(ep.key)}, _record_hash as old_hash, {raw_records.record_hash_sql(ep)} as new_hash,
               _extra
        from read_json({files!r}, format = 'newline_delimited', columns = {cols})
    """


def test_old_and_new_hashes_agree_on_what_is_a_new_version(tmp_path):
    key_counts = {"rows": 0, "repeated": 0, "versions": 0, "drift": 0}
    with duckdb.connect() as conn:
        for ep in all_endpoints():
            key = ", ".join(ep.key)
            rows = landed_rows_with_both_hashes(conn, ep)
            # WHEN every pair of landed versions of a key is compared: equal old hashes iff
            # equal new hashes, i.e. per key the pairs (old, new) are as many as either alone
            disagree = conn.execute(
                f"""select {key}, count(distinct old_hash), count(distinct new_hash), count(distinct (old_hash, new_hash))
                    from ({rows}) group by all
                    having not (count(distinct old_hash) = count(distinct new_hash)
                                and count(distinct new_hash) = count(distinct (old_hash, new_hash)))"""
            ).fetchall()
            assert not disagree, f"{ep.raw_table}: old and new hashes disagree for {disagree[:3]}"
            n, repeated, versions, drift = conn.execute(
                f"""select count(*), count(*) - count(distinct ({key}, old_hash)),
                           count(distinct ({key}, old_hash)) - count(distinct ({key})), count(_extra)
                    from ({rows})"""
            ).fetchone()
            for name, value in zip(key_counts, (n, repeated, versions, drift), strict=True):
                key_counts[name] += value
    # AND the fixture holds what makes that meaningful: versions received more than once,
    # keys with several versions, records with unknown fields
    assert key_counts["repeated"] > 100 and key_counts["versions"] > 20 and key_counts["drift"] > 20, key_counts


def test_the_hash_tells_apart_versions_that_differ_in_any_one_field():
    with duckdb.connect() as conn:
        for ep in all_endpoints():
            # GIVEN a landed version of a record, and one variant per contract field (and for
            # `_extra`) that differs from it in that field alone
            run = next(r for r in landed_runs(FIXTURE, ep.source, ep.name) if r.manifest.parts)
            cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in raw_columns(ep).items()) + "}"
            conn.execute(
                f"create or replace table base as select * from read_json(?, format = 'newline_delimited', "
                f"columns = {cols}) limit 1",
                [str(run.path(run.manifest.parts[0].name))],
            )
            changed = {
                c: f"coalesce({c} || 'x', 'x')" if typ == "varchar" else f"coalesce({c} + 1, 1)"
                for c, typ in ep.fields.items()
            }
            changed["_extra"] = """'{"added":1}'::json"""
            variants = " union all ".join(
                ["select * from base"] + [f"select * replace ({e} as {c}) from base" for c, e in changed.items()]
            )
            # WHEN each is hashed THEN every one is a version of its own
            n, distinct = conn.execute(
                f"select count(*), count(distinct {raw_records.record_hash_sql(ep)}) from ({variants})"
            ).fetchone()
            assert n == distinct == len(ep.fields) + 2, ep.raw_table


def build_the_old_way(db: Path, landing: Path) -> None:
    """A working database as the loader before the SQL hash left it: raw rows with the hash
    they were landed with, the first of each key + hash in landing order, every run loaded."""
    with duckdb.connect(str(db)) as conn:
        meta.ensure(conn)
        conn.execute("drop table meta.migrations")  # an older database has no such table
        for ep in all_endpoints():
            cols = raw_columns(ep)
            key = ", ".join(ep.key)
            conn.execute(
                f"create table {ep.raw_table} ({', '.join(f'{k} {v}' for k, v in cols.items())}, "
                "_manifest_id varchar, _landed_at timestamptz, _loaded_at timestamptz)"
            )
            struct = "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"
            for run in landed_runs(landing, ep.source, ep.name):
                for part in run.manifest.parts:
                    conn.execute(
                        f"""insert into {ep.raw_table} by name
                            select f.*, ? as _manifest_id, ?::timestamptz as _landed_at, now() as _loaded_at
                            from (select * from read_json(?, format = 'newline_delimited', columns = {struct})
                                  qualify row_number() over (partition by {key}, _record_hash order by _seq) = 1) as f
                            anti join {ep.raw_table} as r using ({key}, _record_hash)""",
                        [run.id, run.manifest.landed_at, str(run.path(part.name))],
                    )
                conn.execute(
                    "insert into meta.loaded_manifests values (?, ?, ?, ?, ?, ?::timestamptz, now())",
                    [run.id, ep.source, ep.name, run.manifest.run_key, run.manifest.row_count, run.manifest.landed_at],
                )


def raw_tables(conn, hashes: bool = True) -> dict[str, list]:
    """Every HTTP raw table's rows but their load time (and, unless `hashes`, their hash)."""
    exclude = "_loaded_at" if hashes else "_loaded_at, _record_hash"
    return {
        ep.raw_table: conn.execute(f"select * exclude ({exclude}) from {ep.raw_table} order by all").fetchall()
        for ep in all_endpoints()
    }


def test_raw_rows_hashed_the_old_way_are_rehashed_once_and_a_reload_of_the_same_runs_inserts_nothing(tmp_path):
    # GIVEN a working database built by the old loader from runs landed the old way
    landing, db = tmp_path / "landing", tmp_path / "w.duckdb"
    shutil.copytree(FIXTURE, landing)
    build_the_old_way(db, landing)
    with duckdb.connect(str(db)) as conn:
        old = raw_tables(conn, hashes=False)
        # WHEN the loader next runs (nothing pending) THEN it migrates every raw table once
        for ep in all_endpoints():
            assert load_endpoint(conn, ep, landing)["manifests"] == 0
        migrated = raw_tables(conn)
        unhashed = raw_tables(conn, hashes=False)
        recorded = conn.execute("select name, detail from meta.migrations").fetchall()
        for ep in all_endpoints():
            stale = conn.execute(
                f"select count(*) from {ep.raw_table} where _record_hash <> {raw_records.record_hash_sql(ep)}"
            ).fetchone()[0]
            assert stale == 0, f"{ep.raw_table}: rows not on the new hash"
        # AND running it again changes nothing (it is recorded)
        raw_records.rehash_raw(conn)
        assert raw_tables(conn) == migrated
        # WHEN the same landed runs are loaded again
        conn.execute("delete from meta.loaded_manifests")
        reloaded = {ep.raw_table: load_endpoint(conn, ep, landing) for ep in all_endpoints()}
    # THEN the migration changed only the hashes, kept every version apart, and ran once
    assert unhashed == old
    ((name, detail),) = recorded
    assert name == raw_records.REHASH_MIGRATION
    assert all(d["versions_before"] == d["versions_after"] == d["rows"] for d in json.loads(detail).values())
    # AND the re-load inserted nothing: every version is already held under its new hash
    assert {t: r["inserted"] for t, r in reloaded.items()} == dict.fromkeys(reloaded, 0)
    assert all(r["manifests"] == 7 for r in reloaded.values())


def to_version_1(run_dir: Path) -> None:
    """Rewrite a landed run's manifest the way the first release wrote it (parts as `files`)."""
    data = json.loads((run_dir / MANIFEST).read_text())
    data["files"] = [{k: v for k, v in p.items() if k != "table"} for p in data.pop("parts")]
    del data["version"]
    (run_dir / MANIFEST).write_text(json.dumps(data))


def test_runs_landed_in_the_old_formats_load_as_the_old_loader_did_and_rebuild_the_same(tmp_path):
    # GIVEN the old-format runs (one rewritten as a first-release manifest) and, apart, what
    # the old loader made of them
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURE, landing)
    to_version_1(landing / "kechuang_orders" / "orders" / "run2")
    build_the_old_way(tmp_path / "old.duckdb", FIXTURE)
    with duckdb.connect(str(tmp_path / "old.duckdb")) as conn:
        old = raw_tables(conn, hashes=False)
    # WHEN today's loader loads them into a new database
    with duckdb.connect(str(tmp_path / "new.duckdb")) as conn:
        totals = {ep.raw_table: load_endpoint(conn, ep, landing) for ep in all_endpoints()}
        new, unhashed = raw_tables(conn), raw_tables(conn, hashes=False)
        quarantined = conn.execute("select count(*) from meta.quarantine").fetchone()[0]
        # AND an endpoint is rebuilt from the landing zone alone
        rebuild_from_landing(conn, ORDERS, landing)
        rebuilt = raw_tables(conn)[ORDERS.raw_table]
    # THEN the raw layer holds the very versions the old loader kept, and the records the
    # old extractor set aside are in the quarantine
    assert unhashed == old
    landed_bad = sum(r.manifest.quarantined for ep in all_endpoints() for r in landed_runs(FIXTURE, ep.source, ep.name))
    assert quarantined == landed_bad == sum(t["quarantined"] for t in totals.values()) > 0
    assert rebuilt == new[ORDERS.raw_table]


# A loader in its own process: what the load task runs, so it can be killed mid-way.
LOAD = """
import sys, duckdb
from pathlib import Path
from extract.landing import arm_failpoint
from extract.sources import all_endpoints
from settings import Settings
from warehouse.raw_load import load_endpoint
arm_failpoint(Settings.from_env())
with duckdb.connect(sys.argv[1]) as conn:
    for ep in all_endpoints():
        load_endpoint(conn, ep, Path(sys.argv[2]))
"""


def test_a_migration_killed_before_its_commit_leaves_the_old_hashes_and_completes_on_the_next_load(tmp_path):
    # GIVEN two copies of a database built the old way
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURE, landing)
    for name in ("killed", "undisturbed"):
        build_the_old_way(tmp_path / f"{name}.duckdb", landing)
    with duckdb.connect(str(tmp_path / "killed.duckdb")) as conn:
        before = raw_tables(conn)
    # WHEN a loader is killed (SIGKILL) just before the migration commits
    marker = tmp_path / "failpoint.reached"
    env = {**os.environ, "PLAN_METRICS_FAILPOINT": "rehash_before_commit", "PLAN_METRICS_FAILPOINT_FILE": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", LOAD, str(tmp_path / "killed.duckdb"), str(landing)], env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the loader never reached the failpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # THEN nothing of it happened
    with duckdb.connect(str(tmp_path / "killed.duckdb")) as conn:
        assert raw_tables(conn) == before
        assert conn.execute("select count(*) from meta.migrations").fetchone()[0] == 0
    # WHEN the loader runs again, and on the other copy undisturbed
    for name in ("killed", "undisturbed"):
        subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / f"{name}.duckdb"), str(landing)], check=True)
    # THEN both end in the same migrated tables, the migration recorded once
    states = []
    for name in ("killed", "undisturbed"):
        with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as conn:
            states.append((raw_tables(conn), conn.execute("select name from meta.migrations").fetchall()))
    assert states[0] == states[1] and states[0][1] == [(raw_records.REHASH_MIGRATION,)]
    assert states[0][0] != before
