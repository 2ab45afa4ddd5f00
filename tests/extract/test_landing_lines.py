"""A page is written as JSON lines in one encoder call (msgspec for rows a JSON reader made,
else the json module's output cut at the joins between rows): the lines are exactly the
rows, also when a value itself holds the text of a join ("},{"), and NaN stays NaN."""

from __future__ import annotations

import json

import duckdb
import pytest

from extract.http_client import NonFinite
from extract.landing import LandingWriter, RunManifest, landed_runs, verify

PLAIN = [{"id": i, "name": "武汉", "n": None, "_seq": i} for i in range(5)]
TRICKY = [
    {"id": 1, "note": "a},{b"},
    {"id": 2, "_extra": {"list": [{"x": 1}, {"y": 2}]}},
    {"id": 3, "note": "line\nbreak and a \u2028 separator"},
]


@pytest.mark.parametrize("decoded", [True, False], ids=["decoded-json", "any-rows"])
@pytest.mark.parametrize("rows", [PLAIN, TRICKY, PLAIN[:1]], ids=["plain", "a-join-inside-a-value", "one-row"])
def test_a_page_lands_as_one_json_line_per_row(tmp_path, rows, decoded):
    # GIVEN a page of rows WHEN it is landed (twice, as two pages of one part)
    with LandingWriter(tmp_path, "src", "ep", "run1", decoded=decoded) as writer:
        writer.write_rows("ep", [dict(r) for r in rows])
        writer.write_rows("ep", [dict(r) for r in rows])
        writer.commit(RunManifest("src", "ep", "run1"))
    (run,) = landed_runs(tmp_path, "src", "ep")
    part = run.path(run.manifest.parts[0].name)
    # THEN each line is one row, in order, the checksum holds, and DuckDB reads as many rows
    lines = part.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(line) for line in lines[:-1]] == rows + rows
    assert verify(run) is None and run.manifest.parts[0].rows == 2 * len(rows)
    assert run.manifest.parts[0].bytes == part.stat().st_size
    with duckdb.connect() as conn:
        n = conn.execute("select count(*) from read_json(?, format = 'newline_delimited')", [str(part)]).fetchone()[0]
    assert n == 2 * len(rows)


def test_nan_and_infinity_a_source_sent_land_as_sent_not_as_null(tmp_path):
    # GIVEN a page read from a body with NaN and Infinity in it
    body = b'{"data": [{"id": 1, "v": NaN, "w": [-Infinity]}, {"id": 2, "v": 1.5}]}'
    rows = json.loads(body, parse_constant=NonFinite)["data"]
    # WHEN it lands
    with LandingWriter(tmp_path, "src", "ep", "run1", decoded=True) as writer:
        writer.write_rows("ep", rows)
        writer.commit(RunManifest("src", "ep", "run1"))
    (run,) = landed_runs(tmp_path, "src", "ep")
    # THEN the lines hold them as the source wrote them
    text = run.path(run.manifest.parts[0].name).read_text()
    assert text == '{"id":1,"v":NaN,"w":[-Infinity]}\n{"id":2,"v":1.5}\n'
