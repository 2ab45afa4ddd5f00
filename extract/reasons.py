"""Why a row, a record or a file was set aside — in Chinese first, with what to change.

One table holds every reason: `dbt_project/seeds/quarantine_reasons.csv`, a dbt seed (the
warehouse's `reference.quarantine_reasons`, published as `metrics.quarantine_reasons`) read
here too. One row per reason key (`negative`, `days_over_31`, `unknown_centre`,
`header_not_found`, …) with its Chinese and English text and what the sender should change
(`fix_zh`, `fix_en`). The pipeline, the pre-check (`extract/precheck.py`), the return list
and the dashboard all take their words from it.

The parsers and the loaders keep writing the English reason they always wrote (it is in
`meta.quarantine`, `meta.received_files` and the published `quarantine_summary`); each row of
the table names the `pattern` (a regular expression, searched) that such a reason matches and,
where one English reason means different things in different columns, the `columns` it
applies to. The first row that matches gives the key: `key_of` in Python, `key_sql` the same
in DuckDB (the load stores it in `meta.quarantine.reason_key`). A staging rule names its key
itself (dbt_project.yml, `drop_rules`; `quarantine_columns` in macros/quarantine.sql), and its
English reason matches the same key here (tests/extract/test_reasons.py). The last row,
`other`, matches anything: a reason no row knows yet still gets words, and a test finds it.

Patterns use only what Python's `re` and DuckDB's RE2 read alike: literals, classes, groups,
`|`, `^`/`$`. A pattern with a group hands the group to `{detail}` in the fix (the columns a
header lacks).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache

from settings import REPO

SEED = REPO / "dbt_project" / "seeds" / "quarantine_reasons.csv"
ZH, EN = "zh", "en"
OTHER = "other"


@dataclass(frozen=True)
class Reason:
    key: str
    applies_to: str  # row (a spreadsheet row), record (an API record), file (a whole file)
    columns: tuple[str, ...]  # the columns it applies to (empty: any)
    pattern: str
    text_zh: str
    text_en: str
    fix_zh: str
    fix_en: str

    def text(self, lang: str = ZH) -> str:
        return self.text_en if lang == EN else self.text_zh

    def fix(self, lang: str = ZH, detail: str = "") -> str:
        return (self.fix_en if lang == EN else self.fix_zh).replace("{detail}", detail)

    def matches(self, reason: str, column: str | None) -> bool:
        if self.columns and (column or "") not in self.columns:
            return False
        return re.search(self.pattern, reason) is not None


@cache
def reasons() -> dict[str, Reason]:
    """Every reason, in the order they are tried."""
    with SEED.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for r in rows:
        columns = tuple(c for c in r["in_columns"].split("|") if c)
        out[r["reason_key"]] = Reason(
            r["reason_key"],
            r["applies_to"],
            columns,
            r["pattern"],
            *(r[k] for k in ("text_zh", "text_en", "fix_zh", "fix_en")),
        )
    return out


def reason(key: str | None) -> Reason:
    return reasons().get(key or OTHER) or reasons()[OTHER]


def key_of(reason_text: str | None, column: str | None = None) -> str:
    """The key of an English reason the pipeline wrote (the first row that matches)."""
    text = reason_text or ""
    for r in reasons().values():
        if r.matches(text, column):
            return r.key
    return OTHER


def detail_of(reason_text: str | None, key: str) -> str:
    """What the pattern's group caught (the columns a header lacks), or ''."""
    m = re.search(reason(key).pattern, reason_text or "")
    return (m.group(1) or "").strip() if m and m.groups() else ""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def key_sql(reason_expr: str, column_expr: str) -> str:
    """`key_of` as a DuckDB expression over a reason and a column name (varchar expressions)."""
    whens = []
    for r in reasons().values():
        cond = f"regexp_matches(coalesce({reason_expr}, ''), {_quote(r.pattern)})"
        if r.columns:
            cond += f" and coalesce({column_expr}, '') in ({', '.join(_quote(c) for c in r.columns)})"
        whens.append(f"when {cond} then {_quote(r.key)}")
    return f"case {' '.join(whens)} else {_quote(OTHER)} end"


def detail_sql(reason_expr: str, key_expr: str) -> str:
    """`detail_of` in DuckDB: the group of the key's pattern, for the keys whose pattern has one."""
    grouped = [r for r in reasons().values() if re.compile(r.pattern).groups]
    whens = " ".join(
        f"when {key_expr} = {_quote(r.key)} then trim(regexp_extract({reason_expr}, {_quote(r.pattern)}, 1))"
        for r in grouped
    )
    return f"case {whens} else '' end" if whens else "''"


_DESCRIBED = re.compile(r"(number-like text|text), (\d+) characters")


def shown_value(value: str | None, lang: str = ZH) -> str:
    """A value as `redact.shown_value` left it, for a reader: a number, date or code as it is;
    text only as its kind and length ("text, 16 characters" -> "文字（16 个字符，不显示内容）")."""
    m = _DESCRIBED.fullmatch(value or "")
    if not m:
        return value or ""
    if lang == EN:
        return f"{m.group(1)}, {m.group(2)} characters (not shown)"
    kind = "数字样的文字" if m.group(1).startswith("number") else "文字"
    return f"{kind}（{m.group(2)} 个字符，不显示内容）"


def line(row_number: int | None, column: str | None, key: str, lang: str = ZH, detail: str = "") -> str:
    """One thing to change, as a sender reads it: "第 5 行 接待学生人次：应为不小于 0 的整数"."""
    fix = reason(key).fix(lang, detail)
    if lang == EN:
        where = " ".join(p for p in (f"row {row_number}" if row_number else "", column or "") if p)
        return f"{where}: {fix}" if where else fix
    where = " ".join(p for p in (f"第 {row_number} 行" if row_number else "", column or "") if p)
    return f"{where}：{fix}" if where else fix
