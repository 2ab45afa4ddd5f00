"""What the gate validates and what it records.

A `Batch` is one small DataFrame and the GX suite that judges it: the suite modules
(`raw.py`, `published.py`) build them — the DuckDB query that makes the frame sits beside
the expectations that judge it — and `gate.py` runs them. A `CheckResult` is one line of
the quality ledger (`meta.quality_checks`), whatever produced it: a GX expectation, a dbt
test, or a count of quarantined records (`quarantine.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Batch:
    name: str  # also the HTML report page's name
    table: str  # what the frame was computed from, as operators know it
    df: object  # pandas.DataFrame
    suite: object  # gx.ExpectationSuite
    index: list[str]  # columns shown with each failing value
    investigate: str = ""  # SQL template, formatted with the first failing row


@dataclass
class CheckResult:
    layer: str  # gx | dbt | extract | staging
    suite: str
    check: str
    table: str
    success: bool
    severity: str = "block"  # block | warn
    observed: str = ""
    sample: list = field(default_factory=list)
    observed_value: float | None = None
    investigate: str = ""  # a query that shows the failing rows

    def describe(self) -> str:
        sample = f"; failing values (sample): {json.dumps(self.sample[:5], ensure_ascii=False, default=str)}"
        return f"[{self.layer}] {self.table}: {self.check} ({self.suite}) -> {self.observed}" + (
            sample if self.sample else ""
        )


def jsonable(value):
    """A value as JSON-able Python (numpy scalars and the like turned into numbers or text)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
