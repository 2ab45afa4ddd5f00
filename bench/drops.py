"""The drop folders measured: the spreadsheet readers compared, and the isolated drops stage
against a bare parse of the same files.

- `readers(incoming)`: every file read by the pipeline's reader (python-calamine after the
  bounding pre-scan, `extract.workbooks.read_workbook`) and by openpyxl read-only (the reader
  the pipeline used before: rows, merged ranges), in one process, one after the other.
- `bare_parse(incoming)`: every file read and parsed with the pipeline's parsers in one
  process — no isolation, no hashing, no landing: the floor the drops stage is held to.
- `hostile(folder)`: each case of the hostile corpus read by each reader in a child process
  held to 1 GB of address space and 60 s: its time, its peak memory, and how it ended.

`python -m bench.drops readers|bare-parse|hostile DIR` prints one JSON object.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from extract.sources import file_sources

CHILD_MEMORY = 1 << 30
CHILD_SECONDS = 60


def _files(incoming: Path) -> list[tuple[str, Path]]:
    return [(s.name, p) for s in file_sources() for p in sorted((incoming / s.name).rglob("*")) if p.is_file()]


def openpyxl_read(name: str, data: bytes) -> int:
    """What the pipeline's reader did before python-calamine: openpyxl read-only, every row of
    every sheet, and each sheet's merged ranges; returns the cells seen."""
    import openpyxl

    if data[:4] != b"PK\x03\x04":
        import csv

        text = data.decode("utf-8-sig", errors="replace")
        return sum(len(r) for r in csv.reader(io.StringIO(text)))
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    cells = 0
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells += len(row)
    finally:
        wb.close()
    return cells


def _calamine_read(name: str, data: bytes) -> int:
    from extract.workbooks import read_workbook

    return sum(len(cells) for sheet in read_workbook(name, data) for _, cells in sheet.rows)


READERS = {"calamine": _calamine_read, "openpyxl": openpyxl_read}


def readers(incoming: Path) -> dict:
    files = [(p.name, p.read_bytes()) for _, p in _files(incoming)]
    out = {"files": len(files), "bytes": sum(len(d) for _, d in files)}
    for label, read in READERS.items():
        started, refused = time.perf_counter(), 0
        for name, data in files:
            try:
                read(name, data)
            except Exception:
                refused += 1
        out[label] = {"seconds": round(time.perf_counter() - started, 3), "refused": refused}
    out["openpyxl_over_calamine"] = round(out["openpyxl"]["seconds"] / out["calamine"]["seconds"], 2)
    return out


def bare_parse(incoming: Path) -> dict:
    """Read and parse every file in this process with the pipeline's parsers."""
    from extract.sources import SOURCES
    from extract.spreadsheets import Rejected

    started, rows, refused, files = time.perf_counter(), 0, 0, 0
    for source, path in _files(incoming):
        files += 1
        try:
            parsed = SOURCES[source].parser(path, path.read_bytes())
            rows += sum(len(r) for r in parsed.rows.values())
        except Rejected:
            refused += 1
    return {"files": files, "rows": rows, "refused": refused, "seconds": round(time.perf_counter() - started, 3)}


def _child(reader: str, path: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    data = Path(path).read_bytes()
    started = time.perf_counter()
    try:
        cells = READERS[reader](Path(path).name, data)
        ended = f"read {cells:,} cells"
    except MemoryError:
        ended = "MemoryError"
    except Exception as exc:
        ended = f"refused: {str(exc)[:120]}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(time.perf_counter() - started, 3), "peak_rss_mb": round(peak, 1),
                      "ended": ended}))  # fmt: skip


def hostile(folder: Path) -> dict:
    """Each regular file of a hostile corpus folder, read by each reader in a bounded child."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_size < (32 << 20)):
        for reader in READERS:
            try:
                done = subprocess.run([sys.executable, "-m", "bench.drops", "_child", reader, str(path)],
                                      capture_output=True, text=True, timeout=CHILD_SECONDS)  # fmt: skip
                result = (
                    json.loads(done.stdout.strip().splitlines()[-1])
                    if done.returncode == 0 and done.stdout.strip()
                    else {"ended": f"died (exit {done.returncode})"}
                )
            except subprocess.TimeoutExpired:
                result = {"ended": f"still reading after {CHILD_SECONDS} s (killed)"}
            out.setdefault(os.fsencode(path.name).decode("utf-8", "backslashreplace"), {})[reader] = result
    return out


def main(argv: list[str]) -> int:
    what, arg = argv[0], argv[1:]
    if what == "_child":
        _child(*arg)
        return 0
    fn = {"readers": readers, "bare-parse": bare_parse, "hostile": hostile}[what]
    print(json.dumps(fn(Path(arg[0])), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
