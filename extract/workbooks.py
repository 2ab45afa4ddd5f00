"""Opening an uploaded spreadsheet safely: its sheets, rows and what a row's cells really hold.

Uploads are untrusted: a 5 KB workbook can claim a million rows, inflate to gigabytes, hide
an XML entity bomb in a part, or open fine and then fail on a cell deep inside.
`read_workbook()` either returns every sheet (name, whether it is hidden, its rows as a
person numbers them, the merged ranges and the formula cells saved without a value) or
raises `Unreadable` with a reason for a person — never a cell's text.

Every limit (`Limits`) is checked before or while reading, never after:

- xlsx: the zip's directory is read first (entries, declared sizes against
  `max_inflated_bytes`); every XML part is then inflated in chunks, counted as it streams,
  and refused at once if it declares a DOCTYPE or an entity (no expansion can happen); each
  sheet's XML is scanned by expat before any reader sees it — rows (blank ones included),
  cells and the area they span counted as they stream, merged ranges and formulas without a
  cached value collected, and a typed cell that holds what its type cannot be (a date cell
  holding `2021-13-01`) refused as Excel would refuse it. Only then does python-calamine (a
  Rust reader, ten times faster than openpyxl here and bounded by the scan) read the values.
- xls: the BIFF records of the `Workbook` stream are walked first, the cells of each sheet
  counted and their area bounded; then calamine reads it.
- csv: decoded (UTF-8, UTF-8 with BOM, GBK) and read row by row, counted as it streams.

The caller bounds the file's bytes before reading it (`extract/drops.py`, from `fstat`), and
the whole read runs in an isolated worker with hard memory and CPU limits
(`extract/parse_pool.py`): what these checks miss still cannot exhaust the worker's host.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from xml.parsers import expat

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_REF = re.compile(r"([A-Z]{1,3})(\d{1,7})")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """How much one upload may hold (defaults fit a monthly report many times over)."""

    max_inflated_bytes: int = 64 * 1024 * 1024  # all parts of an xlsx, inflated
    max_cells: int = 2_000_000  # cells with something in them
    max_area: int = 4_000_000  # rows x columns a sheet spans (a reader allocates this)
    max_rows: int = 200_000  # the highest row number, blank rows included
    max_merges: int = 100_000
    max_zip_entries: int = 10_000


class Unreadable(Exception):
    """The file cannot be read as a spreadsheet; the message says why, for a person."""


class _MergeIndex:
    """Which merged range covers a cell, in O(log n): per column, the ranges sorted by first
    row with the running furthest last row, so one binary search answers (overlapping,
    hostile ranges included)."""

    def __init__(self, merged: list[tuple[int, int, int, int, str]]):
        self.merged = merged
        self._columns: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}

    def _column(self, col: int) -> tuple[list[int], list[tuple[int, int]]]:
        if col not in self._columns:
            ranges = sorted((r1, r2, i) for i, (r1, c1, r2, c2, _) in enumerate(self.merged) if c1 <= col <= c2)
            starts, reach, best = [], [], (-1, -1)
            for r1, r2, i in ranges:
                best = max(best, (r2, i))
                starts.append(r1)
                reach.append(best)
            self._columns[col] = (starts, reach)
        return self._columns[col]

    def covering(self, row: int, col: int) -> tuple[int, int, int, int, str] | None:
        starts, reach = self._column(col)
        at = bisect.bisect_right(starts, row) - 1
        if at < 0 or reach[at][0] < row:
            return None
        return self.merged[reach[at][1]]


@dataclass
class Sheet:
    name: str
    rows: list[tuple[int, list]]  # (row number as a person sees it, cell values from column A)
    hidden: bool = False
    merged: list[tuple[int, int, int, int, str]] = field(default_factory=list)  # (row1, col1, row2, col2, "A3:A5")
    formulas: set[tuple[int, int]] = field(default_factory=set)  # (row, col) of formulas with no cached value
    _index: _MergeIndex | None = field(default=None, repr=False)

    def merged_range(self, row: int, col: int) -> str | None:
        """The merged range covering a cell that is not its range's first (where the value sits)."""
        if not self.merged:
            return None
        if self._index is None:
            self._index = _MergeIndex(self.merged)
        found = self._index.covering(row, col)
        if found is None or (row, col) == (found[0], found[1]):
            return None
        return found[4]


def read_workbook(name: str, data: bytes, limits: Limits = Limits()) -> list[Sheet]:
    """Every sheet of a CSV, xlsx or xls file, in workbook order."""
    kind = _kind(name, data)
    try:
        if kind == "xlsx":
            return _xlsx(data, limits)
        if kind == "xls":
            return _xls(data, limits)
        return [_csv(data, limits)]
    except (Unreadable, MemoryError, RecursionError):
        raise
    except Exception as exc:  # any failure inside a reader, on any cell: reject the file, not the folder
        raise Unreadable(f"cannot read the {kind} file ({type(exc).__name__})") from exc


def _kind(name: str, data: bytes) -> str:
    # The bytes decide, not the name: people rename files (an .xlsx saved as .csv, …).
    if not data:
        raise Unreadable("the file is empty (0 bytes)")
    if data[:4] == ZIP_MAGIC:
        return "xlsx"
    if data[:8] == OLE_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise Unreadable("the workbook is encrypted (password-protected); send it without a password")
        return "xls"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xls"):
        raise Unreadable("unsupported file type (expected .xlsx, .xls or .csv)")
    if suffix != ".csv":
        raise Unreadable(f"the file is named {suffix} but is not a workbook (its first bytes are not one)")
    return "csv"


# ------------------------------------------------------------------------------ CSV ----
def _decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Unreadable("cannot decode the CSV as UTF-8 or GBK")


def _csv(data: bytes, limits: Limits) -> Sheet:
    rows, cells = [], 0
    for number, row in enumerate(csv.reader(io.StringIO(_decode_csv(data))), 1):
        cells += len(row)
        if number > limits.max_rows or cells > limits.max_cells:
            raise Unreadable(_too_big(number, cells, limits))
        rows.append((number, row))
    return Sheet("csv", rows)


def _too_big(rows: int, cells: int, limits: Limits) -> str:
    return (
        f"the file holds more than {limits.max_rows:,} rows or {limits.max_cells:,} cells "
        f"(seen so far: {rows:,} rows, {cells:,} cells); a report is far smaller"
    )


# ----------------------------------------------------------------------------- xlsx ----
def _col_index(letters: str) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return col - 1


def _cell(ref: str) -> tuple[int, int]:
    m = _REF.fullmatch(ref)
    if not m:
        raise Unreadable("a cell reference in the workbook is malformed")
    return int(m.group(2)), _col_index(m.group(1))


def _no_doctype(*_args) -> None:
    raise Unreadable("the workbook's XML declares a DOCTYPE or entities (refused: entity expansion)")


def _expat(handlers: dict) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.EntityDeclHandler = _no_doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    for name, handler in handlers.items():
        setattr(parser, name, handler)
    return parser


class _Budget:
    """Inflated bytes left for the whole workbook."""

    def __init__(self, limit: int):
        self.left, self.limit = limit, limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise Unreadable(f"the workbook inflates to more than {self.limit:,} bytes (a zip bomb, or not a report)")


def _stream_part(archive: zipfile.ZipFile, part: str, budget: _Budget, parser=None) -> bytes | None:
    """Inflate one part in chunks, within the budget; feed it to `parser`, or return its bytes
    (small parts only). A part without XML markup is refused if it declares a DOCTYPE."""
    kept = [] if parser is None else None
    tail = b""
    with archive.open(part) as fh:
        while chunk := fh.read(_CHUNK):
            budget.take(len(chunk))
            window = tail + chunk
            if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                _no_doctype()
            tail = chunk[-16:]
            if parser is not None:
                parser.Parse(chunk, False)
            else:
                kept.append(chunk)
    if parser is not None:
        parser.Parse(b"", True)
        return None
    return b"".join(kept)


@dataclass
class _SheetScan:
    """What the expat pass found in one sheet's XML."""

    rows: int = 0
    cols: int = 0
    cells: int = 0
    merged: list = field(default_factory=list)
    formulas: set = field(default_factory=set)


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+)?Z?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _scan_sheet(archive: zipfile.ZipFile, part: str, budget: _Budget, limits: Limits) -> _SheetScan:
    scan = _SheetScan()
    state = {"row": 0, "col": -1, "cell": None, "type": None, "formula": False, "value": None, "in_v": False}

    def start(name, attrs):
        tag = name.rpartition(":")[2]
        if tag == "row":
            state["row"] = int(attrs["r"]) if "r" in attrs else state["row"] + 1
            state["col"] = -1
            if state["row"] > limits.max_rows:
                raise Unreadable(_too_big(state["row"], scan.cells, limits))
            scan.rows = max(scan.rows, state["row"])
        elif tag == "c":
            if "r" in attrs:
                row, col = _cell(attrs["r"])
                state["row"], state["col"] = max(row, state["row"]), col
            else:
                state["col"] += 1
            scan.cells += 1
            scan.rows, scan.cols = max(scan.rows, state["row"]), max(scan.cols, state["col"] + 1)
            if scan.cells > limits.max_cells or scan.rows > limits.max_rows or scan.rows * scan.cols > limits.max_area:
                raise Unreadable(_too_big(scan.rows, scan.cells, limits))
            state.update(cell=(state["row"], state["col"]), type=attrs.get("t", "n"), formula=False, value=None)
        elif tag == "f":
            state["formula"] = True
        elif tag == "v":
            state["in_v"], state["value"] = True, ""
        elif tag == "mergeCell":
            ref = attrs.get("ref", "")
            if ":" in ref:
                (r1, c1), (r2, c2) = (_cell(x) for x in ref.split(":", 1))
                scan.merged.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2), ref))
                if len(scan.merged) > limits.max_merges:
                    raise Unreadable(f"the sheet has more than {limits.max_merges:,} merged ranges")

    def text(data):
        if state["in_v"]:
            state["value"] += data

    def end(name):
        tag = name.rpartition(":")[2]
        if tag == "v":
            state["in_v"] = False
        elif tag == "c":
            _check_cell(state, scan)

    _stream_part(archive, part, budget, _expat({"StartElementHandler": start, "EndElementHandler": end,
                                                 "CharacterDataHandler": text}))  # fmt: skip
    return scan


def _check_cell(state: dict, scan: _SheetScan) -> None:
    """A typed cell must hold what its type says (Excel refuses the file otherwise), and a
    formula saved without its value is remembered (the reader sees it empty)."""
    value, kind = state["value"], state["type"]
    if state["formula"] and (value is None or not value.strip()):
        scan.formulas.add(state["cell"])
    if value is None or not value.strip():
        return
    if kind == "d":
        m = _ISO_DATE.fullmatch(value.strip())
        try:
            if not m:
                raise ValueError
            date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise Unreadable(
                f"cell {_col(state['cell'][1])}{state['cell'][0]} is a date cell holding an impossible date"
            ) from None
    elif kind == "n" and not _NUMBER.fullmatch(value.strip()):
        raise Unreadable(f"cell {_col(state['cell'][1])}{state['cell'][0]} is a number cell holding no number")


def _workbook_parts(archive: zipfile.ZipFile, budget: _Budget) -> list[tuple[str, str, bool]]:
    """(sheet name, its XML part, hidden) in workbook order, read from workbook.xml and its rels."""
    sheets: list[tuple[str, str, bool]] = []
    targets: dict[str, str] = {}

    def book_start(name, attrs):
        if name.rpartition(":")[2] == "sheet":
            rid = next((v for k, v in attrs.items() if k.rpartition(":")[2] == "id" and k != "sheetId"), "")
            sheets.append((attrs.get("name", ""), rid, attrs.get("state", "visible") != "visible"))

    def rels_start(name, attrs):
        if name.rpartition(":")[2] == "Relationship":
            targets[attrs.get("Id", "")] = attrs.get("Target", "")

    _stream_part(archive, "xl/workbook.xml", budget, _expat({"StartElementHandler": book_start}))
    _stream_part(archive, "xl/_rels/workbook.xml.rels", budget, _expat({"StartElementHandler": rels_start}))
    out = []
    for name, rid, hidden in sheets:
        target = targets.get(rid, "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        out.append((name, part, hidden))
    return out


def _open_zip(data: bytes, limits: Limits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise Unreadable("cannot open the workbook: it is not a complete zip file") from exc
    entries = archive.infolist()
    if len(entries) > limits.max_zip_entries:
        raise Unreadable(f"the workbook has more than {limits.max_zip_entries:,} parts")
    declared = sum(i.file_size for i in entries)
    if declared > limits.max_inflated_bytes:
        raise Unreadable(
            f"the workbook inflates to {declared:,} bytes, more than the {limits.max_inflated_bytes:,} allowed "
            "(a zip bomb, or not a report)"
        )
    return archive


def _xlsx(data: bytes, limits: Limits) -> list[Sheet]:
    import python_calamine

    archive = _open_zip(data, limits)
    budget = _Budget(limits.max_inflated_bytes)
    names = set(archive.namelist())
    parts = _workbook_parts(archive, budget)
    scans = {part: _scan_sheet(archive, part, budget, limits) for _, part, _ in parts if part in names}
    for other in sorted(names):  # every other XML part a reader may open: no DOCTYPE, within the budget
        if other.endswith((".xml", ".rels")) and other not in scans and other not in (
            "xl/workbook.xml", "xl/_rels/workbook.xml.rels"
        ):  # fmt: skip
            _stream_part(archive, other, budget)
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheets = []
    for name, part, hidden in parts:
        scan = scans.get(part, _SheetScan())
        rows = _calamine_rows(book, name) if part in scans else []
        sheets.append(Sheet(name, rows, hidden=hidden, merged=scan.merged, formulas=scan.formulas))
    return sheets


def _calamine_rows(book, name: str) -> list[tuple[int, list]]:
    """A sheet's rows as a person numbers them, each row's cells from column A."""
    sheet = book.get_sheet_by_name(name)
    start = sheet.start
    if start is None:
        return []
    first_row, first_col = start
    pad = [""] * first_col
    return [(first_row + i + 1, pad + row if pad else row) for i, row in enumerate(sheet.iter_rows())]


# ------------------------------------------------------------------------------ xls ----
# BIFF8 records that hold one cell (row, column first) or a run of cells (MULRK, MULBLANK)
_CELL_RECORDS = {0x0006, 0x00FD, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E, 0x00D6}
_RUN_RECORDS = {0x00BD, 0x00BE}
_BOF, _EOF = 0x0809, 0x000A


def _scan_biff(data: bytes, limits: Limits) -> None:
    """Walk the Workbook stream's records: every sheet's cells counted and their area
    bounded before a reader allocates it."""
    from xlrd import compdoc

    try:
        doc = compdoc.CompDoc(data, logfile=io.StringIO())
        stream, base, size = doc.locate_named_stream("Workbook")
    except Exception as exc:
        raise Unreadable("cannot open the workbook (its container is damaged)") from exc
    if stream is None:
        raise Unreadable("the file has no Workbook stream (not an Excel 97–2003 workbook)")
    pos, end = base, base + size
    cells = rows = cols = 0
    while pos + 4 <= end:
        code, length = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if code == _BOF:
            rows = cols = 0
        elif code in _CELL_RECORDS or code in _RUN_RECORDS:
            if length < 4:
                raise Unreadable("a cell record of the workbook is damaged")
            row, col = struct.unpack_from("<HH", stream, body)
            last = col
            if code in _RUN_RECORDS and length >= 6:
                last = struct.unpack_from("<H", stream, body + length - 2)[0]
                cells += max(1, last - col + 1)
            else:
                cells += 1
            rows, cols = max(rows, row + 1), max(cols, last + 1)
            if cells > limits.max_cells or rows > limits.max_rows or rows * cols > limits.max_area:
                raise Unreadable(_too_big(rows, cells, limits))
        pos = body + length


def _xls(data: bytes, limits: Limits) -> list[Sheet]:
    import python_calamine

    _scan_biff(data, limits)
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheets = []
    for meta in book.sheets_metadata:
        if str(meta.typ) != "SheetTypeEnum.WorkSheet" and "WorkSheet" not in str(meta.typ):
            continue
        sheet = book.get_sheet_by_name(meta.name)
        merged = [
            (r1 + 1, c1, r2 + 1, c2, f"{_col(c1)}{r1 + 1}:{_col(c2)}{r2 + 1}")
            for (r1, c1), (r2, c2) in (sheet.merged_cell_ranges or [])
        ]
        hidden = "Visible" not in str(meta.visible)
        sheets.append(Sheet(meta.name, _calamine_rows(book, meta.name), hidden=hidden, merged=merged))
    return sheets


def _col(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name
