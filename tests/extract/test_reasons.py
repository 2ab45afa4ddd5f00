"""The one table of reasons (seeds/quarantine_reasons.csv, read by `extract/reasons.py`): every
reason the pipeline can write gets a key with Chinese and English words, the same key in
Python and in DuckDB, and every staging rule names the key its own reason comes to."""

from __future__ import annotations

import re

import duckdb
import pytest
import yaml

from extract import reasons
from tests.conftest import REPO

DBT = REPO / "dbt_project"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _staging_rules() -> list[tuple[str, str, str]]:
    """(column, English reason, key) of every staging rule: dbt_project.yml's drop_rules and the
    rules written in the *_checked models."""
    found = []
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text(encoding="utf-8"))
    for rules in project["vars"]["drop_rules"].values():
        found += [(r["column"], r["reason"], r["key"]) for r in rules]
    rule = re.compile(r"'([^']*)', '[^']*', '([^']+)', '([a-z_]+)'\),?$")
    for path in (DBT / "models" / "intermediate" / "quality").glob("*_checked.sql"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if m := rule.search(line.strip()):
                found.append(m.groups())
    return found


def _written_reasons() -> list[tuple[str, str | None]]:
    """(reason, column) the extraction and the load write: the cell parsers' and layouts' own
    words, the API record checks', and files refused whole."""
    out = []
    for name in ("cells.py", "spreadsheets.py"):
        text = (REPO / "extract" / name).read_text(encoding="utf-8")
        out += [(m, None) for m in re.findall(r'BadValue\("([^"{]+)"\)', text)]
    out += [
        ("unknown region code", "所属县区"),
        ("unknown region code", "地区代码"),
        ("unknown county", "地区代码"),
        ("negative", "数值"),
        ("merged cell (C3:C5): the value is written once for several rows", "所属县区"),
        ("formula without a cached value (saved by a program that does not compute formulas)", "数值"),
        ("missing required field", "order_id"),
        ("non-finite number", "visitors"),
        ("expected bigint", "visitors"),
        ("unparseable timestamp", "updated_at"),
        ("landed run set aside: the manifest is unreadable", None),
        ("file rejected: sheet 'csv': header row not found; missing or misspelt column(s): 开放天数, 报告月份", None),
        ("file rejected: no visible sheet (hidden sheets not read: 月报)", None),
        ("file rejected: the file is empty (0 bytes)", None),
        ("file rejected: unsupported file type (expected .xlsx, .xls or .csv)", None),
        ("file rejected: the workbook is encrypted (password-protected); send it without a password", None),
        ("file rejected: parsing needed more than 512 MB of memory", None),
        ("file rejected: parsing took longer than 60 seconds", None),
        ("file rejected: the file is 104,857,600 bytes, more than the 16,777,216 allowed", None),
        ("file rejected: a FIFO, not a regular file", None),
        ("file rejected: a symbolic link (links are never followed)", None),
        ("file rejected: cannot open the workbook: it is not a complete zip file", None),
        ("file rejected: the parser failed (KeyError)", None),
        (f"file rejected: {reasons_partial()}", None),
    ]
    return out


def reasons_partial() -> str:
    from extract.precheck import PARTIAL_NAME

    return PARTIAL_NAME


def test_the_table_has_one_row_per_key_with_chinese_and_english_words_and_other_last():
    table = reasons.reasons()
    keys = list(table)
    assert keys[-1] == reasons.OTHER and len(keys) == len(set(keys))
    for r in table.values():
        re.compile(r.pattern)
        assert r.applies_to in ("row", "record", "file")
        assert CJK.search(r.text_zh) and CJK.search(r.fix_zh), r.key
        assert r.text_en and r.fix_en and not CJK.search(r.text_en.replace("科普服务平台", "")), r.key


@pytest.mark.parametrize(("column", "reason", "key"), _staging_rules(), ids=lambda x: str(x)[:30])
def test_every_staging_rule_names_a_key_of_the_table_that_its_own_reason_comes_to(column, reason, key):
    assert key in reasons.reasons()
    assert reasons.key_of(reason, column) == key


def test_every_reason_the_pipeline_writes_has_a_key_the_same_in_python_and_in_duckdb():
    written = _written_reasons() + [(r, c) for c, r, _ in _staging_rules()]
    assert len(written) > 40
    con = duckdb.connect()
    con.execute("create table q (reason varchar, column_name varchar)")
    con.executemany("insert into q values (?, ?)", written)
    in_sql = con.execute(
        f"select reason, column_name, {reasons.key_sql('reason', 'column_name')}, "
        f"{reasons.detail_sql('reason', reasons.key_sql('reason', 'column_name'))} from q"
    ).fetchall()
    for reason, column, key, detail in in_sql:
        assert key == reasons.key_of(reason, column) != reasons.OTHER, (reason, column, key)
        assert detail == reasons.detail_of(reason, key), (reason, detail)
    # a column decides where one English reason means two things
    assert reasons.key_of("unknown region code", "所属县区") == "unknown_county"
    assert reasons.key_of("unknown region code", "地区代码") == "unknown_region"
    assert reasons.key_of("negative", "数值") == "negative_number"
    assert reasons.key_of("something nobody wrote yet") == reasons.OTHER


def test_a_line_says_the_row_the_column_and_what_to_change():
    assert reasons.line(5, "接待学生人次", "negative") == "第 5 行 接待学生人次：应为不小于 0 的整数"
    assert (
        reasons.line(5, "接待学生人次", "negative", reasons.EN)
        == "row 5 接待学生人次: must be a whole number of 0 or more"
    )
    header = "file rejected: sheet 'csv': header row not found; missing or misspelt column(s): 开放天数"
    key = reasons.key_of(header)
    assert reasons.line(None, None, key, detail=reasons.detail_of(header, key)).endswith("（缺少或写错的列：开放天数）")
    assert reasons.shown_value("text, 11 characters") == "文字（11 个字符，不显示内容）"
    assert reasons.shown_value("-5") == "-5"
