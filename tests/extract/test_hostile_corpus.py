"""The hostile corpus (tests/extract/hostile_corpus.py) in one drop folder beside good reports:
every case is refused with its reason (or taken once complete) within bounded time and
memory, the good files load, and nothing of it stops the folder. Then each limit of the
isolated parse workers is crossed on purpose, and the two races of a shared folder are
played: a symlink swapped in after the listing, a file still being written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from extract.drops import DropSettings, Listing, _Run, extract_drop_folder
from extract.landing import LandingWriter
from extract.originals import OriginalsStore
from extract.parse_pool import Job, ParseLimits, ParsePool
from tests.extract.hostile_corpus import GOOD_ROW, report_csv, write_corpus
from tests.extract.test_drop_robustness import REPO
from warehouse.raw_load import load_drop_source

SOURCE = "rural_centre_reports"


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """The corpus and two good reports in one folder, extracted once (quiet period off) and loaded."""
    base = tmp_path_factory.mktemp("hostile")
    incoming, landing = base / "incoming", base / "landing"
    cases = write_corpus(incoming / SOURCE)
    (incoming / SOURCE / "2020-09").mkdir()
    (incoming / SOURCE / "2020-09" / "good.csv").write_bytes(report_csv([["RC0002", "乙", "421202", "2020-09", "9",
                                                                          "90", "9", "1", "95%"]]))  # fmt: skip
    limits = ParseLimits()
    Path("/proc/self/clear_refs").write_text("5")  # reset this process's peak RSS
    rss_before = _peak_rss_kb()
    started = time.monotonic()
    with ParsePool(limits) as pool:
        m = extract_drop_folder(SOURCE, incoming, landing, "run1", settings=DropSettings(quiet_seconds=0), pool=pool)
    seconds = time.monotonic() - started
    with duckdb.connect(str(base / "w.duckdb")) as conn:
        load_drop_source(conn, SOURCE, landing)
        raw = conn.execute(f"select centre_id, _file_path from raw.{SOURCE}__reports order by all").fetchall()
    return {
        "cases": cases,
        "manifest": m,
        "seconds": seconds,
        "parent_peak_mb": (_peak_rss_kb() - rss_before) / 1024,
        "worker_peak_mb": pool.peak_rss_kb / 1024,
        "limits": limits,
        "raw": raw,
        "base": base,
    }


def _received(run) -> dict[str, object]:
    return {f.file_id: f for f in run["manifest"].received}


def test_every_case_of_the_corpus_comes_to_what_it_must_and_the_good_files_load(corpus_run):
    from extract.redact import FileName

    got = _received(corpus_run)
    for case in corpus_run["cases"]:
        f = got.get(FileName(f"{SOURCE}/".encode() + case.name).id)
        assert f is not None, f"{case.name!r} was neither landed nor refused"
        if case.outcome == "rejected":
            assert f.status == "rejected" and case.says in f.reason, (case.name, f.reason)
        else:
            assert f.status == "accepted" and f.rows == case.rows, (case.name, f.status, f.reason, f.rows)
    # AND the good rows are in the raw layer: the five hostile names' copies and the other report
    centres = [c for c, _ in corpus_run["raw"]]
    assert centres.count("RC0001") == 5 and centres.count("RC0002") == 1


def test_hostile_names_are_recorded_escaped_and_say_how_they_were_read(corpus_run):
    paths = {p for _, p in corpus_run["raw"]}
    assert f"{SOURCE}/2020-08/十一月补报.csv [gb18030 name]" in paths
    assert f"{SOURCE}/2020-08/two\\nlines.csv" in paths  # a newline cannot start a new log line
    assert f"{SOURCE}/2020-08/-rf report.csv" in paths
    assert not any("\n" in p or "\r" in p for p in paths)


def test_the_corpus_is_read_within_bounded_time_and_memory(corpus_run):
    # Bounds, not benchmarks: a 10^7-row sheet, a 100 MB bomb and a 100 MB line are refused
    # before they are read, so the folder takes seconds, and no process comes near a limit.
    print(
        f"\ncorpus: {corpus_run['seconds']:.1f}s, parent +{corpus_run['parent_peak_mb']:.0f} MB, "
        f"worker peak {corpus_run['worker_peak_mb']:.0f} MB (limit {corpus_run['limits'].memory_mb} MB)"
    )
    assert corpus_run["seconds"] < 120
    assert 0 < corpus_run["worker_peak_mb"] < corpus_run["limits"].memory_mb
    assert corpus_run["parent_peak_mb"] < 200


@pytest.mark.parametrize(
    "limits, says",
    [
        pytest.param(ParseLimits(memory_mb=160, workers=1), "more than 160 MB of memory", id="memory"),
        pytest.param(ParseLimits(cpu_seconds=1, workers=1), "more than 1 CPU seconds", id="cpu"),
        pytest.param(ParseLimits(wall_seconds=0.5, workers=1), "longer than 0.5 seconds", id="wall-clock"),
    ],
)
def test_a_file_that_crosses_a_worker_limit_is_refused_with_it_and_the_next_file_parses(limits, says):
    # GIVEN a valid but huge report (150,000 rows: seconds of CPU, ~200 MB to parse) and a small one
    big, small = report_csv([GOOD_ROW] * 150_000), report_csv([GOOD_ROW])
    with ParsePool(limits) as pool:
        outcomes = list(pool.map([Job(SOURCE, "big.csv", big), Job(SOURCE, "small.csv", small)]))
    # THEN the big one is refused with the limit it crossed, and a worker still parses the next
    assert says in outcomes[0].rejected
    assert len(outcomes[1].parsed["rows"]["reports"]) == 1


def test_a_symlink_swapped_in_after_the_listing_is_refused_and_never_followed(tmp_path):
    incoming = tmp_path / "incoming"
    folder = incoming / SOURCE / "2020-08"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_bytes(report_csv([GOOD_ROW]))
    secret = tmp_path / "secret.csv"
    secret.write_bytes(report_csv([["RC9999", "秘密", "421202", "2020-08", "1", "1", "1", "1", "1"]]))
    with (
        Listing(incoming, SOURCE) as listing,
        LandingWriter(tmp_path / "landing", SOURCE, "_files", "run1") as writer,
        ParsePool() as pool,
    ):
        (folder / "a.csv").unlink()
        os.symlink(secret, folder / "a.csv")  # swapped in after the listing
        run = _Run(SOURCE, writer, set(), OriginalsStore(tmp_path / "originals", SOURCE), DropSettings(0))
        run.take(listing.entries, pool)
    (f,) = run.received
    assert f.status == "rejected" and "symbolic link" in f.reason and f.rows == 0


def test_a_file_still_being_written_is_taken_once_complete_or_left_for_the_next_run(tmp_path):
    # GIVEN a report being written in pieces while the folder is extracted (quiet period 1 s)
    incoming, landing = tmp_path / "incoming", tmp_path / "landing"
    path = incoming / SOURCE / "2020-08" / "growing.csv"
    path.parent.mkdir(parents=True)
    data = report_csv([[f"RC{n:04d}", "甲", "421202", "2020-08", "20", "100", "50", "2", "90%"] for n in range(300)])
    pieces = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]

    def write_slowly():
        with path.open("wb") as fh:
            for piece in pieces:
                fh.write(piece)
                fh.flush()
                time.sleep(0.4)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    while not path.exists():
        time.sleep(0.01)
    settings = DropSettings(quiet_seconds=1.0)
    m = extract_drop_folder(SOURCE, incoming, landing, "run1", settings=settings)
    writer.join()
    # THEN the run waited for it and took it whole, never a part of it
    assert m is not None and [(f.status, f.rows) for f in m.received] == [("accepted", 300)]


def test_a_file_that_keeps_changing_past_the_wait_is_left_for_a_later_run(tmp_path):
    incoming, landing = tmp_path / "incoming", tmp_path / "landing"
    path = incoming / SOURCE / "2020-08" / "busy.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(report_csv([GOOD_ROW]))
    stop = threading.Event()

    def keep_touching():
        while not stop.is_set():
            os.utime(path)
            time.sleep(0.1)

    toucher = threading.Thread(target=keep_touching)
    toucher.start()
    try:
        first = extract_drop_folder(SOURCE, incoming, landing, "run1", settings=DropSettings(quiet_seconds=0.5))
    finally:
        stop.set()
        toucher.join()
    # THEN nothing of it was landed or refused: it is not complete
    assert first is None
    # AND once it is quiet, the next run takes it
    time.sleep(0.6)
    second = extract_drop_folder(SOURCE, incoming, landing, "run2", settings=DropSettings(quiet_seconds=0.5))
    assert [(f.status, f.rows) for f in second.received] == [("accepted", 1)]


def test_a_folder_the_pipeline_may_not_list_is_skipped_and_the_rest_of_the_drop_folder_loads(shared_tmp):
    # GIVEN two month folders, one of which the pipeline's user (not root) may not list
    incoming = shared_tmp / "incoming"
    for month, centre in (("2020-08", "RC0001"), ("2020-09", "RC0002")):
        (incoming / SOURCE / month).mkdir(parents=True)
        (incoming / SOURCE / month / "r.csv").write_bytes(report_csv([[centre, *GOOD_ROW[1:]]]))
    for path in [shared_tmp, *shared_tmp.rglob("*")]:
        path.chmod(0o777)
    (incoming / SOURCE / "2020-09").chmod(0o311)  # may enter, may not list
    # WHEN the folder is extracted as an unprivileged user (workers started before dropping to it)
    code = (
        "import os, sys, json; from pathlib import Path; from extract.drops import DropSettings, extract_drop_folder; "
        "from extract.parse_pool import ParsePool; pool = ParsePool().start(); os.setgid(65534); os.setuid(65534); "
        "m = extract_drop_folder('rural_centre_reports', Path(sys.argv[1]), Path(sys.argv[2]), 'run1', pool=pool, "
        "settings=DropSettings(quiet_seconds=0)); "
        "print(json.dumps([(f.path, f.status, f.rows) for f in m.received]))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(incoming), str(shared_tmp / "landing")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    # THEN the month it can list loads, and the run does not fail on the other
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[f"{SOURCE}/2020-08/r.csv", "accepted", 1]]
