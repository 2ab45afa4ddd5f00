"""The drop folders on disk: every file in submission order, its name and mtime (the `names` and
`old_mtime` faults), and writing those due at a clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from simulator.drops.defects import apply_broken
from simulator.drops.files import DropFile, months
from simulator.drops.ledger import ledger_files, render_ledger
from simulator.drops.reports import render_report, report_files
from simulator.faults import Faults, share
from simulator.world import WorldConfig


def all_files(
    cfg: WorldConfig, faults: dict[str, Faults] | None = None, source: str | None = None
) -> Iterator[DropFile]:
    """Every file of both folders (or of `source`), in submission order per folder, with the drop faults."""
    faults = faults or {}

    def reports() -> Iterator[DropFile]:
        for m in months():
            yield from report_files(cfg, m)

    s4, s5 = faults.get("rural_centre_reports"), faults.get("plan_ledger")
    if source in (None, "rural_centre_reports"):
        yield from apply_broken(cfg, reports(), "rural_centre_reports", s4.broken if s4 else 0.0)
    if source in (None, "plan_ledger"):
        yield from apply_broken(cfg, iter(ledger_files(cfg)), "plan_ledger", s5.broken if s5 else 0.0)


HOSTILE_NAMES = ("gbk", "latin1", "newline", "dash", "bidi", "long")
OLD_MTIME = 1_546_272_000  # 2019-01-01T00:00:00+08:00


def _hostile_kind(f: DropFile, rate: float) -> str | None:
    if rate <= 0 or share("names", f.path) >= rate:
        return None
    return HOSTILE_NAMES[int(share("names-kind", f.path) * len(HOSTILE_NAMES))]


def disk_name(f: DropFile, faults: dict[str, Faults] | None = None) -> bytes:
    """The bytes of the name the file is written under, relative to the drop folder."""
    s = (faults or {}).get(f.source)
    folder, _, name = f.path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    kind = _hostile_kind(f, s.names if s else 0.0)
    prefix = folder.encode() + b"/"
    if kind == "gbk":
        return prefix + name.encode("gb18030")
    if kind == "latin1":
        return prefix + stem.encode() + b"_r\xe9vis\xe9." + ext.encode()
    if kind == "newline":
        return prefix + f"{stem}\n2021年补报.{ext}".encode()
    if kind == "dash":
        return prefix + f"-rf {name}".encode()
    if kind == "bidi":
        return prefix + f"\u202e{name}".encode()
    if kind == "long":  # 240 bytes or so, cut on a character boundary
        long = stem
        while len((long + "_").encode()) + len(ext) + 1 <= 240:
            long += "_"
        return prefix + f"{long}.{ext}".encode()
    return f.path.encode()


def disk_mtime(f: DropFile, faults: dict[str, Faults] | None = None) -> int:
    s = (faults or {}).get(f.source)
    rate = s.old_mtime if s else 0.0
    return OLD_MTIME if rate > 0 and share("old_mtime", f.path) < rate else f.submitted


def render(f: DropFile) -> bytes:
    return render_ledger(f) if f.source == "plan_ledger" else render_report(f)


def write_drops(
    cfg: WorldConfig,
    incoming: Path,
    clock: int,
    faults: dict[str, Faults] | None = None,
    source: str | None = None,
) -> list[str]:
    """Write every file (of both folders, or of `source`) submitted by `clock`, in submission
    order; remove the simulator's files not yet due."""
    base = os.fsencode(Path(incoming))
    written = []
    for f in all_files(cfg, faults, source):
        target = base + b"/" + disk_name(f, faults)
        if f.source == "rural_centre_reports":
            # the `broken` fault may have turned a .csv into an .xlsx (or back): drop the other name
            other = b".csv" if target.endswith(b".xlsx") else b".xlsx"
            Path(os.fsdecode(target.rsplit(b".", 1)[0] + other)).unlink(missing_ok=True)
        path = Path(os.fsdecode(target))
        if f.submitted > clock:
            path.unlink(missing_ok=True)
            continue
        data = render(f)
        mtime = disk_mtime(f, faults)
        # A file already there with the same bytes and time is left alone: touching it would
        # change its inode's change time, which is how the pipeline sees a file arrive.
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".sim-" + str(os.getpid()) + ".part")
            tmp.write_bytes(data)
            os.utime(tmp, (mtime, mtime))
            os.replace(tmp, path)
        elif path.stat().st_mtime != mtime:
            os.utime(path, (mtime, mtime))
        written.append(f.path)
    return written
