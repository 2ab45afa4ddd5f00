"""The hostile corpus: uploads as an attacker (or an unlucky county bureau) would send them,
made by code at test time — no binary blobs in the repository.

`write_corpus(folder)` writes every case into a drop folder and returns what each must come
to: `Case(name, outcome, says)` — "rejected" with a reason containing `says`, "accepted"
with `rows` rows, or "later" (not complete yet: neither landed nor refused in this run).
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

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
GOOD_ROW = ["RC0001", "甲中学", "421202", "2020-08", "20", "100", "50", "2", "90%"]


@dataclass
class Case:
    name: bytes  # relative to the source folder
    outcome: str  # rejected | accepted | later
    says: str = ""
    rows: int = 0


def report_csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    return "\n".join(",".join(r) for r in [HEADER, *rows]).encode(encoding) + b"\n"


def _xlsx(sheet_xml: bytes, extra_parts: dict[str, bytes] | None = None, compress: bool = True) -> bytes:
    """A minimal workbook with one sheet whose XML is `sheet_xml`."""
    parts = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Default Extension="xml" ContentType="application/xml"/><Default Extension="rels" '
        b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Override PartName="/xl/workbook.'
        b'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        b'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        b'2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
        b'name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org'
        b'/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet_xml,
        **(extra_parts or {}),
    }
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


SHEET_OPEN = b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _inline(ref: str, text: str) -> bytes:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def _header_row() -> bytes:
    cols = "ABCDEFGHI"
    return b'<row r="1">' + b"".join(_inline(f"{cols[i]}1", h) for i, h in enumerate(HEADER)) + b"</row>"


def dimensionless_far_row(row: int = 10_000_000) -> bytes:
    """No <dimension>, one cell at row `row`: a reader that walks every row to it exhausts a worker."""
    return _xlsx(SHEET_OPEN + b"<sheetData>" + _header_row() + f'<row r="{row}"><c r="A{row}"><v>1</v></c></row>'.encode()
                 + b"</sheetData></worksheet>")  # fmt: skip


def merged_cell_storm(rows: int = 4_000, merges: int = 8_000) -> bytes:
    """A real report whose 所属县区 cells are empty under thousands of merged ranges (a lookup
    per empty cell over every range is quadratic)."""
    body = [SHEET_OPEN, b"<sheetData>", _header_row()]
    for r in range(2, rows + 2):
        cells = [_inline(f"A{r}", f"RC{r:05d}"), _inline(f"D{r}", "2020-08")]
        cells += [f'<c r="{c}{r}"><v>{v}</v></c>'.encode() for c, v in zip("EFGH", (20, 100, 50, 2), strict=True)]
        body.append(f'<row r="{r}">'.encode() + b"".join(cells) + b"</row>")
    body.append(b"</sheetData><mergeCells>")
    # one merge per row over column C (所属县区), plus merges far away to make the list long
    body += [f'<mergeCell ref="C{r}:C{r + 1}"/>'.encode() for r in range(1, rows + 1, 2)]
    body += [f'<mergeCell ref="K{r}:L{r}"/>'.encode() for r in range(1, merges - rows // 2 + 1)]
    body.append(b"</mergeCells></worksheet>")
    return _xlsx(b"".join(body))


def zip_bomb(inflated: int = 100 * 1024 * 1024) -> bytes:
    """A sheet part that inflates to `inflated` bytes (a few hundred KB on disk)."""
    filler = b" " * inflated
    return _xlsx(SHEET_OPEN + b"<sheetData>" + _header_row() + b"</sheetData>" + filler + b"</worksheet>")


def entity_bomb() -> bytes:
    """Billion laughs inside the shared strings part of an otherwise valid workbook."""
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
        )  # fmt: skip
        + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>'
    )
    return _xlsx(
        SHEET_OPEN + b"<sheetData>" + _header_row() + b"</sheetData></worksheet>", {"xl/sharedStrings.xml": lol}
    )


def encrypted_workbook() -> bytes:
    """A password-protected workbook as Excel saves it (OLE2: EncryptionInfo + EncryptedPackage)."""
    from simulator import compound_file

    return compound_file.encrypted_workbook(report_csv([GOOD_ROW]))


def write_corpus(folder: Path, month: str = "2020-08") -> list[Case]:
    """Every case into <folder>/<month>/; returns what each must come to."""
    d = folder / month
    d.mkdir(parents=True, exist_ok=True)
    prefix = f"{month}/".encode()
    cases: list[Case] = []

    def put(name: bytes, data: bytes, outcome: str, says: str = "", rows: int = 0) -> None:
        (Path(os.fsdecode(os.fsencode(d) + b"/" + name))).write_bytes(data)
        cases.append(Case(prefix + name, outcome, says, rows))

    put(b"dimensionless.xlsx", dimensionless_far_row(), "rejected", "rows")
    put(b"merged-storm.xlsx", merged_cell_storm(), "accepted", rows=0)
    put(b"zip-bomb.xlsx", zip_bomb(), "rejected", "inflates to")
    put(b"entity-bomb.xlsx", entity_bomb(), "rejected", "DOCTYPE")
    put(b"encrypted.xlsx", encrypted_workbook(), "rejected", "encrypted")
    put(b"empty.csv", b"", "rejected", "empty")
    good = report_csv([GOOD_ROW])
    put("十一月补报.csv".encode("gbk"), good, "accepted", rows=1)
    put(b"caf\xe9_report.csv", good, "accepted", rows=1)
    put(b"two\nlines.csv", good, "accepted", rows=1)
    put(b"-rf report.csv", good, "accepted", rows=1)
    put(b"x" * 200 + b".csv", good, "accepted", rows=1)
    fifo = os.fsencode(d) + b"/pipe.csv"
    os.mkfifo(fifo)
    cases.append(Case(prefix + b"pipe.csv", "rejected", "FIFO"))
    big = Path(os.fsdecode(os.fsencode(d) + b"/one-line.csv"))
    with big.open("wb") as fh:  # 100 MB on one line, without a newline (sparse: no disk written)
        fh.truncate(100 * 1024 * 1024)
    cases.append(Case(prefix + b"one-line.csv", "rejected", "more than"))
    return cases
