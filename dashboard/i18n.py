"""Chinese first, English on request: the dashboard's labels and how it writes numbers.

Numbers are written the Chinese way in Chinese (万 and 亿 for large counts and person-times,
¥ for money, 12.3% for ratios) and with thousands separators in English. Values are shown
as published; these functions only format them.
"""

from __future__ import annotations

import math
from datetime import date

ZH, EN = "zh", "en"


def lang() -> str:
    """The reader's language in this Streamlit session: English once they switched to it."""
    import streamlit as st

    return EN if st.session_state.get("lang_en") else ZH


LABELS: dict[str, tuple[str, str]] = {
    "app_title": ("一揽子计划实施监测", "Package plan monitor"),
    "app_subtitle": (
        "中国科协支持湖北省和武汉市疫后重振一揽子计划 · 实施情况",
        "CAST's package plan for Hubei and Wuhan after the epidemic: how it is implemented",
    ),
    "english": ("English", "English"),
    "page_overview": ("总览", "Overview"),
    "page_explorer": ("指标查询", "Metric explorer"),
    "page_map": ("地市分布图", "Prefecture map"),
    "page_progress": ("计划进度", "Plan progress"),
    "page_quality": ("数据质量", "Data quality"),
    "page_about": ("数据说明", "About the data"),
    "nothing_published": (
        "尚未发布数据：{path} 不存在。先运行 `make run`（或 `make pipeline`）。",
        "Nothing is published yet: {path} does not exist. Run `make run` (or `make pipeline`) first.",
    ),
    "publish": ("发布批次", "Publish"),
    "published_at": ("发布时间", "Published at"),
    "as_of": ("数据截至", "Data as of"),
    "latest_month": ("最新月份", "Latest month"),
    "watermarks": ("数据源水位（各源已读取到的最新更新时间）", "Source watermarks (newest update read per source)"),
    "source": ("数据源", "Source"),
    "watermark": ("水位", "Watermark"),
    "no_data": ("暂无数据", "No data yet"),
    "to_date": ("累计", "To date"),
    "not_additive": ("不可跨月累加", "Not additive over months"),
    "vs_previous": ("较上月", "vs previous month"),
    "target": ("目标", "Target"),
    "completion": ("完成率", "Completion"),
    "measure": ("措施", "Measure"),
    "metric": ("指标", "Metric"),
    "level": ("地区层级", "Region level"),
    "province": ("全省", "Province"),
    "prefecture": ("地市", "Prefecture"),
    "county": ("区县", "County"),
    "region": ("地区", "Region"),
    "region_code": ("地区代码", "Region code"),
    "month": ("月份", "Month"),
    "period": ("期间", "Period"),
    "value": ("数值", "Value"),
    "rank": ("排名", "Rank"),
    "trend_title": ("按月趋势 · {region}", "By month · {region}"),
    "ranking_title": ("各地市排名 · {month}", "Prefectures ranked · {month}"),
    "county_title": ("{prefecture} 各区县 · {month}", "Counties of {prefecture} · {month}"),
    "county_none": (
        "该指标在此地市没有区县级数据（数据源只报到地市，或本月无数据）。",
        "No county rows for this metric here (the source reports prefectures only, or nothing this month).",
    ),
    "show_table": ("数据表", "Data table"),
    "as_published": (
        "中位数和比率按发布值显示，不在看板中再次汇总。",
        "Medians and ratios are shown as published, never re-aggregated here.",
    ),
    "map_title": ("湖北省 17 个地市州 · {metric} · {month}", "Hubei's 17 prefectures · {metric} · {month}"),
    "map_note": (
        "每个方块是一个地级单位，大致按地理位置排列（含省直管的仙桃、潜江、天门、神农架林区）。灰色：无数据。",
        "One square per prefecture-level unit, placed roughly where it lies (the four province-administered "
        "units included). Grey: no data.",
    ),
    "deadline": ("截止日期", "Deadline"),
    "days_left": ("剩余天数", "Days left"),
    "actual": ("累计完成", "Actual to date"),
    "overdue": ("已过期", "past due"),
    "progress_note": (
        "累计完成值为计划开始（2020-07-01）至 {month} 的数值；剩余天数按数据截至日 {as_of} 计算。",
        "Actual to date counts from the plan's start (2020-07-01) through {month}; days left count from the "
        "data's as-of day {as_of}.",
    ),
    "no_targets": ("账本中还没有目标。", "The ledger has no targets yet."),
    "last_publishes": ("最近发布", "Last publishes"),
    "checks_passed": ("通过检查", "Checks passed"),
    "checks_failed": ("未通过检查", "Checks failed"),
    "rows": ("指标行数", "Metric rows"),
    "warnings": ("告警的检查", "Checks that warned"),
    "no_warnings": ("最近的运行没有告警。", "No check warned in the recent runs."),
    "quarantine": ("隔离记录（按数据源与原因）", "Quarantined records by source and reason"),
    "no_quarantine": ("没有被隔离的记录。", "No record was quarantined."),
    "records": ("记录数", "Records"),
    "stage": ("环节", "Stage"),
    "stage_extract": ("接收时", "at extraction"),
    "stage_staging": ("建模规则", "staging rule"),
    "files": ("文件数", "Files"),
    "reason": ("原因", "Reason"),
    "column": ("字段", "Column"),
    "endpoint": ("数据集", "Dataset"),
    "layer": ("层级", "Layer"),
    "check": ("检查", "Check"),
    "table": ("表", "Table"),
    "severity": ("级别", "Severity"),
    "observed": ("观测结果", "Observed"),
    "checked_at": ("检查时间", "Checked at"),
    "last_seen": ("最近一次", "Last seen"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    "docs_link": ("数据字典（dbt 文档）", "Data dictionary (dbt docs)"),
    "docs_missing": (
        "dbt 文档页尚未生成（下一次发布时生成）。",
        "The dbt docs page is not generated yet (it is at the next publish).",
    ),
    "about_intro": (
        "已发布的数据库自带说明：每张表、每个字段都有中文和英文注释。分析人员可直接用 DuckDB 只读查询 {path}。",
        "The published database describes itself: every table and column carries a Chinese and English comment. "
        "Analysts query {path} read-only with DuckDB.",
    ),
    "relation": ("表/视图", "Table / view"),
    "comment": ("说明", "Description"),
    "kind": ("类型", "Kind"),
    "data_type": ("类型", "Type"),
    "unit": ("单位", "Unit"),
    "definition": ("定义", "Definition"),
    # 这个数从哪里来 (why is this number X?): one value's facts, sources, runs and set-aside records
    "page_explain": ("这个数从哪里来", "Why this number?"),
    "explain_link": ("这个数从哪里来", "Why this number?"),
    "explain_row": ("解释这一行的数值", "Explain a row's value"),
    "explain_point": ("解释图中选中的月份", "Explain the month picked on the chart"),
    "explain_progress": (
        "解释某项目标在最新月份（{month}）的数值",
        "Explain a target's value in the latest month ({month})",
    ),
    "explain_pick_hint": (
        "点击折线上的点即可选中该月。",
        "Click a point of the line to pick its month.",
    ),
    "explain_intro": (
        "发布值 {value}（{metric} · {region} · {month}）由下面 {n} 条事实记录按“{aggregation}”汇总得到。",
        "The published value {value} ({metric} · {region} · {month}) is made of the {n} fact rows below, "
        "aggregated by {aggregation}.",
    ),
    "explain_none": (
        "没有这个发布值（该指标在此地区、此月份无数据）。",
        "There is no such published value (no data for this metric, region and month).",
    ),
    "explain_old_file": (
        "这个发布文件还没有数值溯源表（metric_facts），请等待下一次发布。",
        "This published file has no value lineage yet (metric_facts); it comes with the next publish.",
    ),
    "published_value": ("发布值", "Published value"),
    "facts_total": ("事实记录汇总", "The facts, aggregated"),
    "facts_count": ("事实记录数", "Fact rows"),
    "adds_up": ("一致", "equal"),
    "does_not_add_up": ("不一致", "NOT equal"),
    "facts_title": ("构成这个数的事实记录", "The facts that make it"),
    "facts_shown": (
        "显示前 {shown} 条（共 {n} 条，下载包含全部）。",
        "First {shown} of {n} rows shown; the download holds all.",
    ),
    "sources_title": ("数据来自哪里", "Where they came from"),
    "sources_note": (
        "每条事实记录都带有来源批次（接口抽取或文件接收的落地批次）；表格记录还带有文件名（已做安全处理）、工作表和行号。",
        "Every fact names its landing run (an API extract or a drop-folder landing); a spreadsheet row also its "
        "file (name shown safely), sheet and row.",
    ),
    "files_title": ("来源文件", "Source files"),
    "runs_title": ("落地、入库、建模与发布", "Landing, load, dbt and publish"),
    "run": ("运行", "Run"),
    "landed_at": ("落地时间", "Landed"),
    "loaded_at": ("入库时间", "Loaded"),
    "manifest": ("来源批次", "Landing run"),
    "facts": ("事实记录数", "Facts"),
    "dbt_invocation": ("建模运行编号", "dbt invocation"),
    "set_aside_title": ("被隔离（未计入）的记录", "Set aside (not counted)"),
    "set_aside_none": (
        "该指标在此地区、此月份没有被隔离的记录。",
        "Nothing was set aside for this metric, region and month.",
    ),
    "record_key": ("记录标识", "Record"),
    "how_title": ("计算方法", "How it is computed"),
    "how_text": (
        "事实表 metrics.{table}，筛选：{filter}；每行取值：{value}；汇总方式：{aggregation}。",
        "Fact table metrics.{table}, filter: {filter}; each row gives: {value}; aggregated by: {aggregation}.",
    ),
    "aggregation_sum": ("求和", "sum"),
    "aggregation_mean": ("平均（占比）", "mean (share)"),
    "aggregation_median": ("中位数", "median"),
    "aggregation_distinct_count": ("不同对象计数", "distinct count"),
    "aggregation_report_rate": ("已报送 ÷ 应报送", "reported ÷ due"),
    # 数据报送 / 上传预检 (for the people who send the S4 reports)
    "page_reporting": ("数据报送", "Reporting"),
    "reporting_intro": (
        "各县农村中学科技馆月报的报送情况：填报模板、退回清单（需修改后重新上传的行）和未报送清单。",
        "How each county's rural centres report: the template, the return list (rows to fix and send again) "
        "and who has not reported.",
    ),
    "county_unknown": ("县区不明（整份文件被退回）", "county unknown (files refused whole)"),
    "template": ("填报模板", "Report template"),
    "download_template": ("下载本县填报模板", "Download the county's template"),
    "template_note": (
        "模板已列出本县 {n} 所在用科技馆（科普服务平台登记），表头受保护，各列有下拉列表和取值检查。",
        "The template lists the county's {n} active centres (S1 registry); its header is protected and every "
        "column has its list or check.",
    ),
    "returns_title": ("退回清单", "Return list"),
    "returns_none": ("本县没有被退回的月报数据。", "Nothing of this county was set aside."),
    "returns_open": ("未更正 {open} 处，已更正 {fixed} 处。", "{open} not yet fixed, {fixed} fixed."),
    "download_returns": ("下载退回清单（Excel）", "Download the return list (Excel)"),
    "unreported_title": ("未报送清单", "Who has not reported"),
    "unreported_none": ("本月所有在用科技馆都已报送。", "Every active centre reported for this month."),
    "report_rate": ("报送率", "Report rate"),
    "report_rate_none": ("本月无已发布的报送率", "no published report rate for this month"),
    "file": ("文件", "File"),
    "sheet": ("工作表", "Sheet"),
    "row": ("行号", "Row"),
    "centre": ("科技馆编号", "Centre"),
    "school": ("学校名称", "School"),
    "value_written": ("填写的值", "Value written"),
    "fix": ("如何修改", "What to change"),
    "fixed": ("是否已更正", "Fixed"),
    "fixed_yes": ("已更正", "fixed"),
    "fixed_no": ("未更正", "not yet"),
    "received_at": ("接收时间", "Received"),
    "deadline_col": ("截止日期", "Deadline"),
    "days_overdue": ("逾期天数", "Days overdue"),
    "not_due": ("未到期", "not yet due"),
    "precheck_loads": ("可以入库的行", "Rows that would load"),
    "precheck_set_aside": ("将被退回的行", "Rows that would be set aside"),
    "precheck_ok": ("预检通过：{n} 行都可以入库，可以上传。", "Passed: all {n} rows would load; the file can be sent."),
    "precheck_bad": (
        "预检未通过：{bad} 行将被退回，请按“如何修改”改好后再预检、再上传。",
        "Not passed: {bad} row(s) would be set aside; change them as said, pre-check again, then send.",
    ),
    "precheck_refused": ("整个文件将被退回：", "The whole file would be refused: "),
    "precheck_note": (
        "按已发布数据（截至 {day}）的科技馆名录核对；文件只在内存中检查，检查后即丢弃，不会保存。",
        "Checked against the published centre registry (as of {day}); the file is read in memory and discarded.",
    ),
}

UNIT_SUFFIX = {
    ZH: {"person_times": "人次", "hours": "小时", "days": "天", "count": "", "cny": "", "ratio": ""},
    EN: {"person_times": " person-times", "hours": " h", "days": " d", "count": "", "cny": "", "ratio": ""},
}


def label(key: str, lang: str = ZH, **kw) -> str:
    zh, en = LABELS[key]
    text = en if lang == EN else zh
    return text.format(**kw) if kw else text


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cjk_scale(value: float, decimals: int = 2) -> str:
    """1234 -> 1,234; 123456 -> 12.35万; 123456789 -> 1.23亿."""
    a = abs(value)
    if a >= 1e8:
        return f"{value / 1e8:,.{decimals}f}亿"
    if a >= 1e4:
        return f"{value / 1e4:,.{decimals}f}万"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def number(value, unit: str, lang: str = ZH, with_unit: bool = True) -> str:
    """A published value written for a reader: 12.35万人次, ¥1.23亿, 84.6%, 36.5小时."""
    if _is_missing(value):
        return "—"
    value = float(value)
    suffix = UNIT_SUFFIX[lang].get(unit, "") if with_unit else ""
    if unit == "ratio":
        return f"{value:.1%}"
    if unit in ("hours", "days"):
        return f"{value:,.1f}{suffix}"
    if unit == "cny":
        return "¥" + (_cjk_scale(value) if lang == ZH else f"{value:,.2f}")
    return (_cjk_scale(value) if lang == ZH else f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}") + suffix


def delta(change, unit: str, lang: str = ZH) -> str | None:
    """The change from the previous month, signed (ratios in percentage points)."""
    if _is_missing(change):
        return None
    change = float(change)
    sign = "+" if change >= 0 else "-"
    if unit == "ratio":
        return f"{sign}{abs(change) * 100:.1f} pp" if lang == EN else f"{sign}{abs(change) * 100:.1f} 个百分点"
    return sign + number(abs(change), unit, lang, with_unit=lang != EN)


def month(d: date | None, lang: str = ZH) -> str:
    if d is None:
        return "—"
    return f"{d.year}年{d.month}月" if lang == ZH else f"{d:%Y-%m}"


def day(d, lang: str = ZH) -> str:
    if d is None:
        return "—"
    return f"{d.year}年{d.month}月{d.day}日" if lang == ZH else f"{d:%Y-%m-%d}"


def vega_number_expr(unit: str, lang: str = ZH) -> str:
    """A Vega labelExpr writing axis numbers like `number` does (万/亿 in Chinese)."""
    if unit == "ratio":
        return "format(datum.value, '.0%')"
    prefix = "'¥' + " if unit == "cny" else ""
    if lang == EN:  # 1.2k, 3.4M; small values as they are (',~s' would write 0.5 as 500m)
        return f"{prefix}(abs(datum.value) >= 1e3 ? format(datum.value, ',~s') : format(datum.value, ',~r'))"
    return (
        f"{prefix}(abs(datum.value) >= 1e8 ? format(datum.value / 1e8, ',.1~f') + '亿' : "
        f"abs(datum.value) >= 1e4 ? format(datum.value / 1e4, ',.1~f') + '万' : format(datum.value, ',~r'))"
    )
