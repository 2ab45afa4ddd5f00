"""预检 — what the pipeline would make of a report file, before it is sent.

    python -m extract.precheck FILE... [--lang en] [--source rural_centre_reports|plan_ledger]
                                       [--as-of YYYY-MM-DD] [--published PATH]

For each file it prints, in Chinese (English with `--lang en`), what would load and what
would be set aside, row by row, each with what to change ("第 5 行 接待学生人次：应为不小于
0 的整数"), or why the whole file would be refused. The exit status is 0 only when nothing
would be set aside. The dashboard's 上传预检 page does the same for an uploaded file
(`check_upload`). Nothing is stored and the warehouse is never opened: the file is read,
parsed and judged in memory, and forgotten.

The same code paths as the pipeline, not a copy of its rules:

- a file on disk is opened and bounded as the drop folder opens it (`extract.drops._read`:
  no link followed, no FIFO waited on, at most PLAN_METRICS_UPLOAD_MAX_BYTES), and a name the
  drop folder would ignore as a partial upload is said to be one;
- it is parsed by the source's parser in the isolated workers of `extract/parse_pool.py`
  (the same limits), which set rows aside exactly as at extraction;
- the rows it keeps are judged by the staging rules that concern a single row (report month
  within the plan period up to the as-of month, centre in the S1 registry; the ledger's
  date). Their definitions have one home, `drop_rules` in dbt_project.yml, which the dbt
  models render (macro `drop_rules`) and this module evaluates with DuckDB, in memory, over
  the file's rows and the S1 registry of the published file (`metrics.rural_centre_registry`):
  the CLI needs neither dbt nor the working database, and the published registry is the one
  the last publish judged reports against. DuckDB evaluates the same SQL text in both places,
  so there is no second implementation to drift.
- reasons come from the one table `extract/reasons.py` reads (seeds/quarantine_reasons.csv).

"As of": the published file's as-of day (the pipeline's last run), or `--as-of`; without a
published file, today in Beijing, and the registry rule cannot be applied (said so).
What the pre-check cannot know: rows of other files (a later file replaces an earlier one's
row for the same centre and month) and registry changes since the last publish.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from extract import reasons
from extract.redact import FileName, mask_text
from settings import Settings

SOURCES_CHECKED = ("rural_centre_reports", "plan_ledger")
PARTIAL_NAME = "a partial-upload name: the drop folder ignores the file (dot file, ~$ lock file, .part, .tmp …)"
# columns the staging models derive from a row before their rules read it (stg_*)
DERIVED = {"plan_ledger": ("cast(date_trunc('month', activity_date) as date) as activity_month",)}
# what identifies a row when it is shown
IDENTITY = {
    "rural_centre_reports": ("centre_id", "county_code", "report_month"),
    "plan_ledger": ("metric_id", "region_code"),
}


@dataclass
class RowVerdict:
    sheet: str
    row_number: int
    table: str
    identity: dict
    loads: bool
    column: str | None = None
    value: str | None = None  # as `redact.shown_value` allows
    reason: str | None = None  # the English reason the pipeline writes
    reason_key: str | None = None
    stage: str | None = None  # extract | staging

    def line(self, lang: str = reasons.ZH) -> str:
        return reasons.line(self.row_number, self.column, self.reason_key, lang)


@dataclass
class FileVerdict:
    name: str  # shown safely
    source: str
    rejected: str | None = None  # the English reason a whole file is refused with
    rejected_key: str | None = None
    rows: list[RowVerdict] = field(default_factory=list)
    skipped: int = 0
    sheets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # keys of notes: no_registry

    @property
    def loading(self) -> list[RowVerdict]:
        return [r for r in self.rows if r.loads]

    @property
    def set_aside(self) -> list[RowVerdict]:
        return [r for r in self.rows if not r.loads]

    @property
    def ok(self) -> bool:
        return self.rejected is None and not self.set_aside

    @property
    def counties(self) -> set[str]:
        """The counties the file's rows say they are of (whoever may see its verdict must
        report for every one of them)."""
        return {r.identity["county_code"] for r in self.rows if r.identity.get("county_code")}

    def rejection(self, lang: str = reasons.ZH) -> str:
        r = reasons.reason(self.rejected_key)
        return f"{r.text(lang)} — {r.fix(lang, reasons.detail_of(self.rejected, r.key))}"


@dataclass(frozen=True)
class Registry:
    """What the staging rules check a row against: the S1 centres and the as-of day."""

    centres: frozenset[str] | None  # None: no published registry (the rule cannot be applied)
    as_of: date

    @classmethod
    def from_published(cls, path: Path | None, settings: Settings, as_of: date | None = None) -> Registry:
        from datetime import datetime

        from extract.beijing_time import local_date
        from extract.templates import published_registry

        rows, published_as_of = published_registry(path, settings) if path is not None else ([], None)
        centres = frozenset(r["centre_id"] for r in rows) if rows else None
        return cls(centres, as_of or published_as_of or local_date(datetime.now().astimezone()))


@cache
def drop_rules() -> dict:
    """`drop_rules` and `plan_start` of dbt_project.yml (the staging rules' one home)."""
    import yaml

    from settings import REPO

    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    return {"rules": project["vars"]["drop_rules"], "plan_start": project["vars"]["plan_start"]}


# ------------------------------------------------------------------ the staging rules ----
def _table_of(source: str):
    from extract.sources import SOURCES

    return SOURCES[source].tables[0]  # the table the staging rules read (reports; ledger activities)


def _rule_case(rules: list[dict], part: str) -> str:
    whens = " ".join(f"when {r['when']} then {_expr(r, part)}" for r in rules)
    return f"case {whens} end"


def _expr(rule: dict, part: str) -> str:
    if part == "value":
        return f"cast({rule['value']} as varchar)"
    return "'" + str(rule[part]).replace("'", "''") + "'"


class Rules:
    """The staging rules of a source, ready to judge files' rows: one in-memory DuckDB holding
    the registry, opened once for all the files of a check."""

    def __init__(self, source: str, registry: Registry, settings: Settings):
        from settings import duck

        spec = drop_rules()
        self.source, self.registry, self.plan_start = source, registry, spec["plan_start"]
        self.rules = [
            r for r in spec["rules"].get(source, []) if not (r["key"] == "unknown_centre" and registry.centres is None)
        ]
        self.table = _table_of(source)
        self.conn = duck.connect(":memory:", settings)
        self.conn.execute("create table registry (centre_id varchar)")
        if registry.centres:
            self.conn.executemany("insert into registry values (?)", [[c] for c in sorted(registry.centres)])

    def close(self) -> None:
        self.conn.close()

    def verdicts(self, rows: list[dict]) -> dict[int, dict]:
        """{index of a row: {key, column, value, reason}} for the rows a staging rule sets
        aside, the rules evaluated by DuckDB as dbt evaluates them."""
        if not rows or not self.rules:
            return {}
        fields, rules = list(self.table.fields), self.rules
        conn = self.conn
        conn.execute(
            f"create or replace temp table file_rows (_idx integer, "
            f"{', '.join(f'{c} {t}' for c, t in self.table.fields.items())})"
        )
        conn.executemany(
            f"insert into file_rows values ({', '.join('?' * (len(fields) + 1))})",
            [[i, *(r.get(c) for c in fields)] for i, r in enumerate(rows)],
        )
        unknown = "g.centre_id is null" if "centre_id" in fields else "false"
        derived = "".join(f", {d}" for d in DERIVED.get(self.source, ()))
        join = "left join registry as g on g.centre_id = r.centre_id" if "centre_id" in fields else ""
        found = conn.execute(
            f"""
            with joined as (
                select r.*{derived}, {unknown} as is_unknown_centre,
                       cast(? as date) as plan_start, cast(? as date) as as_of_month
                from file_rows as r {join}
            )
            select _idx, {_rule_case(rules, "key")}, {_rule_case(rules, "column")}, {_rule_case(rules, "value")},
                   {_rule_case(rules, "reason")}
            from joined
            """,
            [self.plan_start, self.registry.as_of.replace(day=1)],
        ).fetchall()
        return {i: {"key": k, "column": c, "value": v, "reason": why} for i, k, c, v, why in found if k is not None}


# --------------------------------------------------------------------- a file's verdict ----
def _identity(source: str, values: dict) -> dict:
    return {k: str(values[k]) for k in IDENTITY[source] if values.get(k) is not None}


def verdict_of(name: str, source: str, outcome, rules: Rules) -> FileVerdict:
    """A file's verdict from the parse pool's outcome and the staging rules."""
    from extract.spreadsheets import Parsed

    if outcome.parsed is None:
        reason = f"file rejected: {outcome.rejected}"
        return FileVerdict(FileName(os.fsencode(name)).shown(), source, reason, reasons.key_of(reason))
    parsed = Parsed.from_plain(outcome.parsed)
    names = parsed.names
    out = FileVerdict(FileName(os.fsencode(name)).shown(names), source, skipped=parsed.skipped)
    out.sheets = [mask_text(s, names) for s in parsed.sheets]
    if rules.registry.centres is None and source == "rural_centre_reports":
        out.notes.append("no_registry")
    for q in parsed.quarantine:
        key = reasons.key_of(q["reason"], q["column"])
        ident = {k: v for k, v in (q.get("record") or {}).items() if k in IDENTITY[source]}
        sheet = mask_text(q["sheet"], names)
        out.rows.append(
            RowVerdict(
                sheet,
                q["row_number"],
                q["table"],
                ident,
                loads=False,
                column=q["column"],
                value=q["value"],
                reason=q["reason"],
                reason_key=key,
                stage="extract",
            )  # fmt: skip
        )
    judged = parsed.rows.get(_table_of(source).name, [])
    staged = rules.verdicts(judged)
    for table, rows in parsed.rows.items():
        for i, r in enumerate(rows):
            v = RowVerdict(mask_text(r["_sheet"], names), r["_row_number"], table, _identity(source, r), True)
            s = staged.get(i) if table == _table_of(source).name else None
            if s:
                v.loads, v.column, v.value, v.reason, v.reason_key, v.stage = (
                    False, s["column"], s["value"], s["reason"], s["key"], "staging"
                )  # fmt: skip
            out.rows.append(v)
    out.rows.sort(key=lambda r: (r.table != _table_of(source).name, r.sheet, r.row_number))
    return out


def check(
    items: list[tuple[str, bytes | str]], source: str, registry: Registry, settings: Settings
) -> list[FileVerdict]:
    """Verdicts for (name, bytes) items — or (name, an English refusal) for a file refused
    before it was read — parsed in the isolated pool, in order."""
    from extract.drops import DropSettings
    from extract.parse_pool import Job, ParsePool

    out: list[FileVerdict | None] = [None] * len(items)
    jobs = []
    for i, (name, data) in enumerate(items):
        if isinstance(data, str):
            out[i] = FileVerdict(FileName(os.fsencode(name)).shown(), source, data, reasons.key_of(data))
        else:
            suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            jobs.append(Job(source, f"upload.{suffix}", data, i))
    if jobs:
        rules = Rules(source, registry, settings)
        try:
            with ParsePool(DropSettings.of(settings).parse) as pool:
                for outcome in pool.map(jobs):
                    i = outcome.job.tag
                    out[i] = verdict_of(items[i][0], source, outcome, rules)
        finally:
            rules.close()
    return [v for v in out if v is not None]


def check_upload(name: str, data: bytes, source: str, registry: Registry, settings: Settings) -> FileVerdict:
    """An uploaded file (the dashboard's 上传预检): checked in memory, never written anywhere."""
    from extract.drops import DropSettings, _ignored

    limit = DropSettings.of(settings).max_bytes
    base = os.fsencode(name).rsplit(b"/", 1)[-1]
    if _ignored(base):
        return check([(name, f"file rejected: {PARTIAL_NAME}")], source, registry, settings)[0]
    if len(data) > limit:
        refusal = f"file rejected: the file is {len(data):,} bytes, more than the {limit:,} allowed"
        return check([(name, refusal)], source, registry, settings)[0]
    return check([(name, data)], source, registry, settings)[0]


def read_path(path: str, settings: Settings) -> bytes | str:
    """A file's bytes, read as the drop folder reads one (`extract.drops._read`), or the
    English reason it would be refused with."""
    from extract.drops import Candidate, DropSettings, _ignored, _Later, _read

    raw = os.fsencode(path)
    parent, _, entry = raw.rpartition(b"/")
    if _ignored(entry):
        return f"file rejected: {PARTIAL_NAME}"
    try:
        dir_fd = os.open(parent or b".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        return f"file rejected: cannot open it: {os.strerror(exc.errno)}"
    try:
        st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        c = Candidate(FileName(raw), dir_fd, entry, st)
        drops = DropSettings.of(settings)
        refusal, data = _read(c, DropSettings(0.0, drops.max_bytes, drops.parse), time.time())
    except FileNotFoundError:
        return "file rejected: cannot open it: No such file or directory"
    except _Later:
        return "file rejected: the file changed while it was read (still being written?)"
    finally:
        os.close(dir_fd)
    return refusal.reason if refusal is not None else data


# -------------------------------------------------------------------------- output ----
_WORDS = {
    "file": ("文件", "File"),
    "sheet": ("工作表", "sheet"),
    "loads": ("可以入库 {n} 行", "would load {n} row(s)"),
    "set_aside": ("将被退回 {n} 行，请修改后重新上传：", "would be set aside {n} row(s); change them and send again:"),
    "refused": ("整个文件将被退回：", "the whole file would be refused: "),
    "skipped": ("（空行、合计行 {n} 行不计）", "({n} blank or total row(s) not counted)"),
    "row": ("第 {n} 行", "row {n}"),
    "no_registry": (
        "注意：没有已发布的科技馆名录，无法核对科技馆编号是否已在科普服务平台登记。",
        "Note: no published centre registry: whether each centre is registered on the 科普服务平台 is not checked.",
    ),
    "why": ("原因：{text}", "reason: {text}"),
    "written": ("填写的是 {value}", "written: {value}"),
    "ok": ("结论：{files} 个文件都可以入库，共 {rows} 行。", "Result: all {files} file(s) would load, {rows} row(s)."),
    "not_ok": (
        "结论：{rows} 行可以入库；{bad} 行和 {refused} 个文件将被退回。请按上面的说明修改后再上传。",
        "Result: {rows} row(s) would load; {bad} row(s) and {refused} file(s) would be set aside. "
        "Change them as said above and send again.",
    ),
    "as_of": ("（按数据截至 {day} 核对）", "(checked as of {day})"),
}


def word(key: str, lang: str, **kw) -> str:
    text = _WORDS[key][1 if lang == reasons.EN else 0]
    return text.format(**kw) if kw else text


def _shown_identity(v: RowVerdict) -> str:
    parts = []
    for k, value in v.identity.items():
        parts.append(value[:7] if k == "report_month" else value)
    return " ".join(parts)


def render(verdicts: list[FileVerdict], lang: str = reasons.ZH, as_of: date | None = None) -> str:
    """The verdicts as a sender reads them."""
    sep = "：" if lang == reasons.ZH else ": "
    lines = []
    for f in verdicts:
        shown_sheets = [s for s in f.sheets if s != "csv"]  # a CSV has no sheet of its own
        sheets = f" ({word('sheet', lang)} {', '.join(shown_sheets)})" if shown_sheets else ""
        lines.append(f"{word('file', lang)}{sep}{f.name}{sheets}")
        if f.rejected is not None:
            lines.append(f"  {word('refused', lang)}{f.rejection(lang)}")
            continue
        lines.append(f"  {word('loads', lang, n=len(f.loading))}")
        lines += [f"    {word('row', lang, n=v.row_number)}  {_shown_identity(v)}" for v in f.loading]
        if f.set_aside:
            lines.append(f"  {word('set_aside', lang, n=len(f.set_aside))}")
            for v in f.set_aside:
                why = [word("why", lang, text=reasons.reason(v.reason_key).text(lang))]
                if v.value:
                    why.append(word("written", lang, value=reasons.shown_value(v.value, lang)))
                lines.append(
                    f"    {v.line(lang)}（{'；'.join(why)}）"
                    if lang == reasons.ZH
                    else f"    {v.line(lang)} ({'; '.join(why)})"
                )
        if f.skipped:
            lines.append(f"  {word('skipped', lang, n=f.skipped)}")
        lines += [f"  {word(n, lang)}" for n in f.notes]
    rows = sum(len(f.loading) for f in verdicts)
    if all(f.ok for f in verdicts):
        lines.append(word("ok", lang, files=len(verdicts), rows=rows))
    else:
        bad = sum(len(f.set_aside) for f in verdicts)
        refused = sum(f.rejected is not None for f in verdicts)
        lines.append(word("not_ok", lang, rows=rows, bad=bad, refused=refused))
    if as_of is not None:
        lines.append(word("as_of", lang, day=as_of.isoformat()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m extract.precheck", description="预检: what the pipeline would make of report files"
    )
    p.add_argument("files", nargs="+", help="report files (.xlsx, .xls, .csv)")
    p.add_argument("--lang", choices=(reasons.ZH, reasons.EN), default=reasons.ZH)
    p.add_argument("--source", choices=SOURCES_CHECKED, default="rural_centre_reports")
    p.add_argument("--as-of", type=date.fromisoformat, help="the day the data is as of (default: the published file's)")
    p.add_argument(
        "--published",
        type=Path,
        default=None,
        help="published file with the S1 registry (default: PLAN_METRICS_DATA_DIR's)",
    )
    args = p.parse_args(argv)
    settings = Settings.from_env()
    registry = Registry.from_published(args.published or settings.published_db, settings, args.as_of)
    verdicts = check([(f, read_path(f, settings)) for f in args.files], args.source, registry, settings)
    print(render(verdicts, args.lang, registry.as_of))
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
