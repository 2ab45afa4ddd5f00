"""Spreadsheet bytes for the simulated drop folders: well-formed xlsx (with the awkward
layouts people make — merged cells, hidden sheets, formulas without cached values) and
the broken files uploads sometimes are (truncated, a cell openpyxl cannot read, a zip
bomb, a CSV the `csv` module rejects). Every function is deterministic: same input, same
bytes (fixed workbook properties and zip entry timestamps).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

FIXED_TIME = datetime(2020, 1, 1)
ZIP_TIME = (2020, 1, 1, 0, 0, 0)
BOMB_BYTES = 256 << 20  # what the zip bomb's sheet XML inflates to
CSV_ZERO_TAIL = 150_000  # NUL bytes after an unclosed quote: more than csv's field limit (131072)


@dataclass
class Sheet:
    title: str
    rows: list[list]
    title_rows: int = 0  # rows above the header, each merged across the header's width
    merges: list[str] = field(default_factory=list)  # more merged ranges, e.g. "C5:C8"
    hidden: bool = False


def xlsx(sheets: list[Sheet]) -> bytes:
    """A workbook; a cell whose text starts with '=' is a formula (openpyxl stores no
    cached value for it, so a reader with data_only=True gets None)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.title)
        for r in sheet.rows:
            ws.append(r)
        for i in range(1, sheet.title_rows + 1):
            ws.merge_cells(start_row=i, start_column=1, end_row=i, end_column=len(sheet.rows[sheet.title_rows]))
        for rng in sheet.merges:
            ws.merge_cells(rng)
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd"
        if sheet.hidden:
            ws.sheet_state = "hidden"
    if any(s.hidden for s in sheets):
        wb.active = next(i for i, s in enumerate(sheets) if not s.hidden)
    wb.properties.creator = "plan-sim"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    return normalise_zip(raw.getvalue())


def normalise_zip(data: bytes, patch: dict | None = None) -> bytes:
    """Same workbook, same bytes: fixed entry timestamps and core-properties dates.
    `patch`: {entry name: function(bytes) -> bytes} applied on the way."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            body = _fixed_dates(info.filename, body)
            if patch and info.filename in patch:
                body = patch[info.filename](body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=ZIP_TIME), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _fixed_dates(name: str, body: bytes) -> bytes:
    """openpyxl stamps the save time into the core properties whatever the workbook says."""
    if name != "docProps/core.xml":
        return body
    return re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z", body)


def with_unreadable_cell(data: bytes, sheet_number: int, ref: str, text: str) -> bytes:
    """The workbook with cell `ref` of its n-th sheet (1-based) replaced by an ISO-date cell
    (t="d") holding `text`, e.g. 2020-13-01: the workbook opens, and openpyxl raises
    ValueError when a reader reaches that row (read-only mode), or on open otherwise."""

    def patch(xml: bytes) -> bytes:
        cell = rb'<c r="' + ref.encode() + rb'"[^>]*?(?:/>|>.*?</c>)'
        new, n = re.subn(cell, b'<c r="' + ref.encode() + b'" t="d"><v>' + text.encode() + b"</v></c>", xml, count=1)
        if n != 1:
            raise ValueError(f"no cell {ref} in sheet {sheet_number}")
        return new

    return normalise_zip(data, {f"xl/worksheets/sheet{sheet_number}.xml": patch})


def truncated(data: bytes) -> bytes:
    """The first half of a file (an upload cut off): for an xlsx, not a readable zip."""
    return data[: len(data) // 2]


@lru_cache(maxsize=4)
def _bomb(sheet_title: str, header: tuple[str, ...], sheets_after: tuple[str, ...]) -> bytes:
    """An xlsx whose first sheet's XML inflates to BOMB_BYTES: the header row, then rows of
    16,000 cells each. ~0.5 MB on disk; about a second to build, so built once."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = sheet_title
    wb.active.append(list(header))
    for title in sheets_after:
        wb.create_sheet(title).append(list(header))
    wb.properties.creator = "plan-sim"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    row = b"<row>" + b"<c><v>0</v></c>" * 16_000 + b"</row>"
    chunk = row * max(1, (1 << 20) // len(row))
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(entry, _fixed_dates(info.filename, body))
                continue
            head, _, tail = body.partition(b"</sheetData>")
            with dst.open(entry, "w") as fh:
                fh.write(head)
                written = len(head)
                while written < BOMB_BYTES:
                    fh.write(chunk)
                    written += len(chunk)
                fh.write(b"</sheetData>" + tail)
    return out.getvalue()


def zip_bomb(sheet_title: str, header: list[str], sheets_after: tuple[str, ...], comment: bytes) -> bytes:
    """The zip bomb, made distinct per file by a zip comment (the bomb itself is shared)."""
    data = _bomb(sheet_title, tuple(header), sheets_after)
    # the end-of-central-directory record closes the file; its last field is the comment length
    assert data[-22:-18] == b"PK\x05\x06" and data[-2:] == b"\0\0"
    return data[:-2] + struct.pack("<H", len(comment)) + comment


def csv_cut_in_a_quote(head: str, cut_row_prefix: str) -> str:
    """CSV text whose last row is cut off inside a quoted field and whose tail is zero-filled
    (a crash while the file was written): the `csv` module raises `_csv.Error: field larger
    than field limit (131072)` at that row, whatever newline mode the reader uses."""
    return head + cut_row_prefix + '"' + "\0" * CSV_ZERO_TAIL
