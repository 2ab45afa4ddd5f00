"""One bad upload never blocks a drop folder: every broken or awkward file the simulator can
write (corrupt, a bad cell deep inside, a CSV the csv module rejects, a zip bomb, an
encrypted workbook, an instructions sheet or a hidden stale sheet in front of the data,
merged data cells, formulas without cached values) is rejected whole or loaded — from the
right sheet, with the bad rows quarantined for what they are — and the rest of the folder
loads. Files that cannot even be read (permissions, gone between listing and reading) are
rejected with their reason too, and nothing is retried every run unless it changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from extract.drops import DropSettings, extract_drop_folder
from extract.landing import landed_runs
from simulator import drops
from simulator.process import SimulatorProcess
from simulator.sources import parse_specs
from simulator.world import WorldConfig, parse_ts
from warehouse.raw_load import load_drop_source

# the simulator and these tests write each file complete before the extract: no quiet period
NO_QUIET = DropSettings(quiet_seconds=0)

REPO = Path(__file__).resolve().parents[2]
SEED, SCALE = 5, 0.1
CFG = WorldConfig(SEED, SCALE)
CLOCK = "2021-12-31T23:59:59+08:00"
SPECS = ["rural_centre_reports:broken=0.3", "plan_ledger:broken=1"]
FAULTS = parse_specs(SPECS)
# what a person reads in the rejection, by the kind of broken file
SAYS = {
    "corrupt": "cannot open the workbook",
    "unreadable_cell": "date cell holding an impossible date",
    "csv_error": "cannot read the csv file",
    "zip_bomb": "inflates to",
    "encrypted": "encrypted",
    "broken_header": "header row not found",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    base = tmp_path_factory.mktemp("drops")
    incoming, landing, db = base / "incoming", base / "data" / "landing", base / "data" / "w.duckdb"
    with SimulatorProcess(base / "sim", seed=SEED, scale=SCALE, clock=CLOCK, incoming=incoming, faults=SPECS):
        pass  # the simulator writes the drops at start
    manifests = {}
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as conn:
        for source in ("rural_centre_reports", "plan_ledger"):
            manifests[source] = extract_drop_folder(source, incoming, landing, "run1", settings=NO_QUIET)
            load_drop_source(conn, source, landing)
    return {"incoming": incoming, "landing": landing, "db": db, "manifests": manifests}


def test_every_kind_of_broken_file_is_planted(folder):
    plan = drops.drop_plan(CFG, parse_ts(CLOCK), FAULTS)
    kinds = {f.defect for f in plan.files}
    assert set(drops.REPORT_DEFECTS) | set(drops.LEDGER_DEFECTS) <= kinds


def test_files_that_cannot_be_read_are_rejected_whole_with_their_reason_and_the_rest_loads(folder):
    plan = drops.drop_plan(CFG, parse_ts(CLOCK), FAULTS)
    with duckdb.connect(str(folder["db"]), read_only=True) as conn:
        got = dict(
            conn.execute("select file_path, reason from meta.received_files where status = 'rejected'").fetchall()
        )
        accepted = conn.execute("select count(*) from meta.received_files where status = 'accepted'").fetchone()[0]
        rows = conn.execute("select count(*) from raw.rural_centre_reports__reports").fetchone()[0]
    assert set(got) == {r.path for r in plan.rejected}
    for r in plan.rejected:
        assert SAYS[r.category] in got[r.path], (r.category, got[r.path])
    assert accepted == len(plan.files) - len(plan.rejected) and rows > 0


def test_the_data_sheet_behind_an_instructions_or_hidden_sheet_is_the_one_read(folder):
    plan = drops.drop_plan(CFG, parse_ts(CLOCK), FAULTS)
    with duckdb.connect(str(folder["db"]), read_only=True) as conn:
        sheets = dict(
            conn.execute("select file_path, sheet from meta.received_files where status = 'accepted'").fetchall()
        )
    behind = [f for f in plan.files if f.defect in ("instructions_sheet", "hidden_sheet") and not f.rejected]
    assert behind
    for f in behind:
        assert f.sheet in sheets[f.path], (f.path, f.defect, sheets[f.path])


def test_rows_are_quarantined_for_what_they_are_merged_cells_and_formulas_included(folder):
    plan = drops.drop_plan(CFG, parse_ts(CLOCK), FAULTS)
    want = {(q.path, q.row, q.column): q.category for q in plan.quarantined if q.rule is None}
    with duckdb.connect(str(folder["db"]), read_only=True) as conn:
        got = {
            (f, r, c): reason
            for f, r, c, reason in conn.execute(
                "select file, row_number, column_name, reason from meta.quarantine where row_number is not null"
            ).fetchall()
        }
    assert set(got) == set(want)
    for key, category in want.items():
        if category == "merged_cell":
            assert got[key].startswith("merged cell"), got[key]
        if category == "formula_without_cache":
            assert got[key].startswith("formula without a cached value"), got[key]


def test_every_accepted_value_is_what_the_sender_wrote_newest_file_winning(folder):
    truth = drops.accepted_reports(CFG, parse_ts(CLOCK), FAULTS)
    with duckdb.connect(str(folder["db"]), read_only=True) as conn:
        rows = conn.execute(
            """select centre_id, strftime(report_month, '%Y-%m-%d'), student_visits, public_visits
               from raw.rural_centre_reports__reports
               qualify row_number() over (partition by centre_id, report_month
                                          order by _file_mtime desc, _file_path desc, _row_number desc) = 1"""
        ).fetchall()
    got = {(c, m): (s, p) for c, m, s, p in rows}
    # rows set aside at staging (R5: month out of range, unknown centre) are loaded here
    assert {k: (r.student_visits, r.public_visits) for k, r in truth.items()}.items() <= got.items()


def test_a_second_run_reads_no_file_again_rejected_ones_included(folder):
    again = extract_drop_folder(
        "rural_centre_reports", folder["incoming"], folder["landing"], "run2", settings=NO_QUIET
    )
    assert again is None


def test_no_original_upload_lands_in_the_shared_landing_zone(folder):
    # the bytes received are kept in the restricted store, owner-only
    assert not [p for p in folder["landing"].rglob("*") if p.suffix in (".xlsx", ".xls", ".csv")]
    store = folder["landing"].parent / "restricted" / "originals"
    source = store / "rural_centre_reports"
    kept = [p for p in source.rglob("*") if p.is_file()]
    assert kept and all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
    assert all(d.stat().st_mode & 0o777 == 0o700 for d in (store, source, source / "packs"))
    # AND each file received can be had back, byte for byte, from there alone
    from extract.originals import OriginalsStore
    from extract.redact import FileName

    received = {f.file_id: f.sha256 for r in landed_runs(folder["landing"], "rural_centre_reports", "_files")
                for f in r.manifest.received if f.status == "accepted"}  # fmt: skip
    path = next(p for p in (folder["incoming"] / "rural_centre_reports").rglob("*") if p.is_file()
                and FileName(os.fsencode(p.relative_to(folder["incoming"]))).id in received)  # fmt: skip
    sha = received[FileName(os.fsencode(path.relative_to(folder["incoming"]))).id]
    assert OriginalsStore(store, "rural_centre_reports").read(sha) == path.read_bytes()


HEADER = [
    "科技馆编号",
    "学校名称",
    "所属县区",
    "报告月份",
    "开放天数",
    "接待学生人次",
    "接待公众人次",
    "开展科普活动次数",
    "设备完好率",
]


def _write(path: Path, centre: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(HEADER) + f"\n{centre},甲,421202,2020-08,20,100,50,2,90%\n", encoding="utf-8")


def test_a_file_that_vanishes_between_listing_and_reading_is_neither_landed_nor_refused_and_the_rest_loads(tmp_path):
    from extract.drops import DropSettings, Listing, _Run
    from extract.landing import LandingWriter
    from extract.originals import OriginalsStore
    from extract.parse_pool import ParsePool

    incoming = tmp_path / "incoming"
    _write(incoming / "rural_centre_reports" / "2020-08" / "a.csv", "RC0001")
    _write(incoming / "rural_centre_reports" / "2020-08" / "b.csv", "RC0002")
    store = OriginalsStore(tmp_path / "originals", "rural_centre_reports")
    with (
        Listing(incoming, "rural_centre_reports") as listing,
        LandingWriter(tmp_path / "landing", "rural_centre_reports", "_files", "run1") as writer,
        ParsePool() as pool,
    ):
        (incoming / "rural_centre_reports" / "2020-08" / "a.csv").unlink()  # gone after the listing
        run = _Run("rural_centre_reports", writer, set(), store, DropSettings(quiet_seconds=0))
        run.take(listing.entries, pool)
    # THEN the file that is gone is not a refusal (there is nothing to refuse), the other loads
    assert [(f.path, f.status, f.rows) for f in run.received] == [("rural_centre_reports/2020-08/b.csv", "accepted", 1)]
    assert [c.name.raw for c in run.waiting] == [b"rural_centre_reports/2020-08/a.csv"]


def test_an_unreadable_file_is_rejected_once_and_read_when_its_permissions_change(shared_tmp):
    # GIVEN a drop folder where one file cannot be read by the pipeline's user (not root)
    tmp_path = shared_tmp
    incoming, landing = tmp_path / "incoming", tmp_path / "landing"
    _write(incoming / "rural_centre_reports" / "2020-08" / "locked.csv", "RC0001")
    _write(incoming / "rural_centre_reports" / "2020-08" / "open.csv", "RC0002")
    locked = incoming / "rural_centre_reports" / "2020-08" / "locked.csv"
    locked.chmod(0o000)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path != locked:
            path.chmod(0o777)
    # The interpreter lives under /root, so the child starts as root, imports what it needs,
    # then drops to `nobody` (root reads any file whatever its mode).
    # The parse workers are started before (they need the interpreter, which nobody may run).
    code = (
        "import os, sys, json, encodings.utf_8_sig, encodings.gb18030; from pathlib import Path; "
        "from extract.drops import DropSettings, extract_drop_folder; from extract.parse_pool import ParsePool; "
        "pool = ParsePool().start(); os.setgid(65534); os.setuid(65534); "
        "m = extract_drop_folder('rural_centre_reports', Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], pool=pool, settings=DropSettings(quiet_seconds=0)); "
        "print(json.dumps(None if m is None else [(f.path, f.status, f.reason, f.rows) for f in m.received]))"
    )

    def run(key: str):
        result = subprocess.run(
            [sys.executable, "-c", code, str(incoming), str(landing), key],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    # WHEN the folder is extracted THEN the locked file is rejected with its reason, the other loads
    first = {p.rsplit("/", 1)[1]: (s, r, n) for p, s, r, n in run("run1")}
    assert first["open.csv"][0] == "accepted" and first["open.csv"][2] == 1
    assert first["locked.csv"][0] == "rejected" and "Permission denied" in first["locked.csv"][1]
    # AND the next run does not try it again while nothing about it changed
    assert run("run2") is None
    # WHEN its permissions are fixed THEN it is read
    locked.chmod(0o644)
    third = {p.rsplit("/", 1)[1]: (s, n) for p, s, r, n in run("run3")}
    assert third == {"locked.csv": ("accepted", 1)}
