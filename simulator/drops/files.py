"""What a drop file is: the reports and ledger rows it holds, and the months they cover."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

FIRST_MONTH = date(2020, 7, 1)
LAST_MONTH = date(2021, 11, 1)  # December's reports arrive after the end of the world


@dataclass
class Report:
    centre_id: str
    school_name: str
    county_code: str
    month: date
    days_open: int
    student_visits: int
    public_visits: int
    activities: int
    equipment: float  # 0..1
    bad: tuple[str, str, str] | None = None  # (header, value as written, reason)


@dataclass
class DropFile:
    path: str  # relative to the drop folder
    submitted: int  # epoch seconds; also the file's mtime
    form: dict
    reports: list[Report] = field(default_factory=list)
    rejected: str | None = None  # reason the whole file is rejected
    ledger: list[tuple] = field(default_factory=list)  # (measure, metric, region, date, value, note, bad)
    targets: list[tuple] = field(default_factory=list)
    rejected_category: str | None = None
    defect: str | None = None  # the kind the `broken` fault planted (REPORT_DEFECTS / LEDGER_DEFECTS)
    defect_rows: tuple[int, ...] = ()  # indices into reports / ledger the defect touches

    @property
    def source(self) -> str:
        return "plan_ledger" if self.path.startswith("plan_ledger/") else "rural_centre_reports"

    @property
    def sheet(self) -> str | None:
        """The sheet holding the data (the activities sheet of a ledger); None for a CSV."""
        if self.source == "plan_ledger":
            return "台账"
        return "月报" if self.form["fmt"] == "xlsx" else None

    @property
    def sheet_index(self) -> int | None:
        """0-based position of `sheet` in the workbook (behind an instructions or hidden sheet: 1)."""
        if self.sheet is None:
            return None
        return 1 if self.defect in ("instructions_sheet", "hidden_sheet") else 0


def months() -> Iterator[date]:
    m = FIRST_MONTH
    while m <= LAST_MONTH:
        yield m
        m = next_month(m)


def next_month(m: date) -> date:
    return date(m.year + m.month // 12, m.month % 12 + 1, 1)
