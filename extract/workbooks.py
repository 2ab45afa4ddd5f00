"""Opening an uploaded spreadsheet safely: its sheets, rows and what a row's cells really hold.

Uploads are untrusted: a file can be corrupt, encrypted, a zip bomb, or open fine and then
fail on a cell deep inside. `read_workbook()` either returns every sheet (name, whether it
is hidden, its rows as a person numbers them, the merged ranges and formula cells without a
cached value) or raises `Unreadable` with a reason — whatever went wrong inside the
readers — so the caller rejects that one file and goes on with the rest of the folder.

Caps: an xlsx may inflate to MAX_UNCOMPRESSED_BYTES and a file may hold MAX_CELLS cells;
beyond that it is rejected before its rows are read (a monthly report is a few KB).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from xml.etree import ElementTree

MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_CELLS = 2_000_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_REF = re.compile(r"([A-Z]+)(\d+)")


class Unreadable(Exception):
    """The file cannot be read as a spreadsheet; the message says why, for a person."""


@dataclass
class Sheet:
    name: str
    rows: list[tuple[int, list]]  # (row number as a person sees it, cell values)
    hidden: bool = False
    merged: list[tuple[int, int, int, int, str]] = field(default_factory=list)  # (row1, col1, row2, col2, "A3:A5")
    formulas: set[tuple[int, int]] = field(default_factory=set)  # (row, col) of formulas with no cached value

    def merged_range(self, row: int, col: int) -> str | None:
        """The merged range covering a cell that is not its range's first (where the value sits)."""
        for r1, c1, r2, c2, ref in self.merged:
            if r1 <= row <= r2 and c1 <= col <= c2 and (row, col) != (r1, c1):
                return ref
        return None


def read_workbook(name: str, data: bytes) -> list[Sheet]:
    """Every sheet of a CSV, xlsx or xls file, in workbook order."""
    kind = _kind(name, data)
    try:
        if kind == "xlsx":
            return _xlsx(data)
        if kind == "xls":
            return _xls(data)
        return [_csv(data)]
    except Unreadable:
        raise
    except Exception as exc:  # any failure inside a reader, on any cell: reject the file, not the folder
        raise Unreadable(f"cannot read the {kind} file: {type(exc).__name__}: {str(exc)[:300]}") from exc


def _kind(name: str, data: bytes) -> str:
    # The bytes decide, not the name: people rename files (an .xlsx saved as .csv, …).
    if data[:4] == ZIP_MAGIC:
        return "xlsx"
    if data[:8] == OLE_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise Unreadable("the workbook is encrypted (password-protected); send it without a password")
        return "xls"
    if PurePosixPath(name).suffix.lower() not in (".csv", ".xlsx", ".xls"):
        raise Unreadable(f"unsupported file type {PurePosixPath(name).suffix!r} (expected .xlsx, .xls or .csv)")
    return "csv"


def _decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Unreadable("cannot decode the CSV as UTF-8 or GBK")


def _csv(data: bytes) -> Sheet:
    if len(data) > MAX_UNCOMPRESSED_BYTES:
        raise Unreadable(f"the CSV is {len(data):,} bytes, more than the {MAX_UNCOMPRESSED_BYTES:,} allowed")
    rows = list(csv.reader(io.StringIO(_decode_csv(data))))
    _check_cells(sum(len(r) for r in rows))
    return Sheet("csv", [(i + 1, r) for i, r in enumerate(rows)])


def _check_cells(n: int) -> None:
    if n > MAX_CELLS:
        raise Unreadable(f"the file holds more than {MAX_CELLS:,} cells; a report is far smaller")


def _xlsx(data: bytes) -> list[Sheet]:
    import openpyxl

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise Unreadable(f"cannot open the workbook: {exc}") from exc
    inflated = sum(i.file_size for i in archive.infolist())
    if inflated > MAX_UNCOMPRESSED_BYTES:
        raise Unreadable(
            f"the workbook inflates to {inflated:,} bytes, more than the {MAX_UNCOMPRESSED_BYTES:,} allowed "
            "(a zip bomb, or not a report)"
        )
    parts = _sheet_parts(archive)
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets, cells = [], 0
        for ws in wb.worksheets:
            rows = []
            for i, r in enumerate(ws.iter_rows(values_only=True)):
                rows.append((i + 1, list(r)))
                cells += len(r)
                if cells > MAX_CELLS:
                    _check_cells(cells)
            sheet = Sheet(ws.title, rows, hidden=ws.sheet_state != "visible")
            if ws.title in parts:
                sheet.merged, sheet.formulas = _merges_and_formulas(archive.read(parts[ws.title]))
            sheets.append(sheet)
        return sheets
    finally:
        wb.close()


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its XML part in the package."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.findall("rel:Relationship", _NS)}
    parts = {}
    for s in book.findall("m:sheets/m:sheet", _NS):
        target = targets.get(s.get(f"{{{_NS['r']}}}id"), "")
        parts[s.get("name")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return parts


def _cell(ref: str) -> tuple[int, int]:
    m = _REF.fullmatch(ref)
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col - 1


def _merges_and_formulas(xml: bytes) -> tuple[list, set]:
    merged, formulas = [], set()
    for _event, el in ElementTree.iterparse(io.BytesIO(xml)):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "mergeCell":
            ref = el.get("ref", "")
            if ":" in ref:
                (r1, c1), (r2, c2) = (_cell(x) for x in ref.split(":"))
                merged.append((r1, c1, r2, c2, ref))
        elif tag == "c":
            has_formula = el.find("m:f", _NS) is not None
            value = el.find("m:v", _NS)
            if has_formula and (value is None or not (value.text or "").strip()):
                formulas.add(_cell(el.get("r")))
            el.clear()
    return merged, formulas


def _xls(data: bytes) -> list[Sheet]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True)
    except Exception as exc:
        raise Unreadable(f"cannot open the workbook: {exc}") from exc
    sheets, cells = [], 0
    for sheet in book.sheets():
        cells += sheet.nrows * sheet.ncols
        _check_cells(cells)
        rows = []
        for i in range(sheet.nrows):
            values = []
            for cell in sheet.row(i):
                if cell.ctype == xlrd.XL_CELL_DATE:
                    values.append(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
                else:
                    values.append(cell.value)
            rows.append((i + 1, values))
        merged = [
            (r1 + 1, c1, r2, c2 - 1, f"{_col(c1)}{r1 + 1}:{_col(c2 - 1)}{r2}") for r1, r2, c1, c2 in sheet.merged_cells
        ]
        sheets.append(Sheet(sheet.name, rows, hidden=bool(sheet.visibility), merged=merged))
    return sheets


def _col(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name
