"""这个数从哪里来 · Why this number? — the drill-down of one published value.

Opened from the "explain" link beside a value (overview cards, the explorer's chart and
tables, the progress page) at `?metric=…&region=…&month=YYYY-MM`, or by picking a metric,
region and month here. Everything comes from the published file through `dashboard.explain`:
the published value (never recomputed), the facts behind it and their aggregate (shown beside
the value, so a reader sees they are equal), where each fact came from, the runs and the
publish, and what was set aside for that metric, region and month.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard import data, explain, pages
from dashboard.i18n import EN, day, month, number
from dashboard.layout import downloads, lang, reader, table, ui_text
from extract.beijing_time import BEIJING

KEYS = ("explain-metric", "explain-region", "explain-month")


def _when(ts) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).tz_convert(BEIJING).strftime("%Y-%m-%d %H:%M")


def _wanted_month(text: str | None) -> date | None:
    try:
        return date.fromisoformat(f"{text[:7]}-01") if text else None
    except ValueError:
        return None


def _from_query(catalog: pd.DataFrame, regions: pd.DataFrame) -> None:
    """Put the link's metric, region and month into the pickers, once per link followed."""
    qp = st.query_params
    wanted = (qp.get("metric"), qp.get("region"), qp.get("month"))
    if st.session_state.get("_explain_from") == wanted:
        return
    st.session_state["_explain_from"] = wanted
    metric_id, region, when = wanted
    if metric_id in catalog.index:
        st.session_state["explain-metric"] = metric_id
    if region in regions.index:
        st.session_state["explain-region"] = region
    if _wanted_month(when):
        st.session_state["_explain_month"] = _wanted_month(when)


def _choices(r: data.Reader) -> tuple[str, str, date | None, pd.DataFrame, pd.DataFrame]:
    lg = lang()
    catalog = data.catalog(r).set_index("metric_id")
    regions = data.regions(r).set_index("region_code")
    _from_query(catalog, regions)
    name = "name_en" if lg == EN else "name_zh"
    c1, c2, c3 = st.columns([3, 2, 2])
    metric_id = c1.selectbox(
        ui_text("metric"),
        list(catalog.index),
        format_func=lambda m: f"{catalog.loc[m, 'measure_code']} {catalog.loc[m, name]}",
        key="explain-metric",
    )
    codes = list(regions.index)
    if st.session_state.get("explain-region") not in codes:
        st.session_state["explain-region"] = data.PROVINCE
    region = c2.selectbox(
        ui_text("region"), codes, format_func=lambda x: f"{regions.loc[x, 'name_zh']} {x}", key="explain-region"
    )
    months_ = list(reversed(data.months(r, metric_id)))
    wanted = st.session_state.pop("_explain_month", None)
    if wanted in months_:
        st.session_state["explain-month"] = wanted
    elif st.session_state.get("explain-month") not in months_ and months_:
        st.session_state["explain-month"] = months_[0]
    chosen = c3.selectbox(ui_text("month"), months_, format_func=lambda d: month(d, lg), key="explain-month")
    if chosen is not None:  # the address names what is shown, so it can be shared
        st.query_params.update({"metric": metric_id, "region": region, "month": f"{chosen:%Y-%m}"})
        st.session_state["_explain_from"] = (metric_id, region, f"{chosen:%Y-%m}")
    return metric_id, region, chosen, catalog, regions


def explain_page() -> None:
    r = reader()
    st.title(ui_text("page_explain"))
    if not r.has("metric_facts"):
        st.info(ui_text("explain_old_file"))
        return
    metric_id, region, chosen, catalog, regions = _choices(r)
    e = explain.explain(r, metric_id, region, chosen) if chosen else None
    if e is None or e.published is None:
        st.info(ui_text("explain_none"))
        return
    _summary(e, catalog.loc[metric_id], regions.loc[region, "name_zh"])
    _facts(r, e)
    _sources(e)
    _runs(r, e)
    _set_aside(e)
    _how(e)


def _summary(e: explain.Explanation, c: pd.Series, region_name: str) -> None:
    lg = lang()
    unit = e.published["unit"]
    value = number(e.published["value"], unit, lg)
    aggregation = ui_text(f"aggregation_{e.rule['aggregation']}")
    st.markdown(
        ui_text(
            "explain_intro",
            value=value,
            metric=c["name_en" if lg == EN else "name_zh"],
            region=region_name,
            month=month(e.month, lg),
            n=f"{e.fact_rows:,}",
            aggregation=aggregation,
        )
    )
    total = "—" if e.total is None else number(e.total, unit, lg)
    verdict = ui_text("adds_up") if e.adds_up else ui_text("does_not_add_up")
    with st.container(key="explain-summary", border=True):
        st.markdown(
            " · ".join(
                [
                    f'{ui_text("published_value")} <span data-role="published-value">{value}</span>',
                    f'{ui_text("facts_total")} <span data-role="facts-total">{total}</span>',
                    f'<span data-role="adds-up">{"✓" if e.adds_up else "✗"} {verdict}</span>',
                    f'{ui_text("facts_count")} <span data-role="facts-count">{e.fact_rows}</span>',
                ]
            ),
            unsafe_allow_html=True,
        )


def _scroll_table(shown: pd.DataFrame, raw: pd.DataFrame, name: str, publish_id: str | None) -> None:
    """A table that may be long (one row per fact, file or run): scrolls, with its downloads."""
    with st.container(key=f"table-{name}"):
        st.dataframe(shown, hide_index=True, height=min(420, 38 + 35 * max(len(shown), 1)))
    downloads(raw, name, publish_id)


def _headers(r: data.Reader, e: explain.Explanation) -> dict[str, str]:
    """The facts' column headers: the published column comment's name (Chinese, or English),
    then the column; the first columns are the drill-down's own."""
    own = {
        "fact_value": ("计入值", "counts as"),
        "fact_entity": ("计数对象", "counted once as"),
        "source": ("数据源", "source"),
        "source_endpoint": ("数据集", "dataset"),
        "source_run": ("运行", "run"),
        "source_landed_at": ("落地时间", "landed"),
        "source_loaded_at": ("入库时间", "loaded"),
    }
    en = lang() == EN
    names = {c: (en_ if en else zh) for c, (zh, en_) in own.items()}
    comments = data.column_comments(r, e.rule["fact_table"])
    for col, comment in zip(comments["column_name"], comments["comment"], strict=True):
        if isinstance(comment, str) and " — " in comment and not en:
            names.setdefault(col, comment.split(" — ", 1)[0])
    return {c: f"{names[c]} · {c}" if c in names and names[c] != c else c for c in e.facts.columns}


def _in_beijing(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with every instant shown in Beijing time, as the rest of the dashboard shows them."""
    shown = df.copy()
    for col in shown.columns:
        if isinstance(shown[col].dtype, pd.DatetimeTZDtype):
            shown[col] = shown[col].dt.tz_convert(BEIJING)
    return shown


def _facts(r: data.Reader, e: explain.Explanation) -> None:
    st.subheader(ui_text("facts_title"))
    with st.container(key="explain-facts"):
        st.dataframe(
            _in_beijing(e.facts).rename(columns=_headers(r, e)),
            hide_index=True,
            height=min(420, 38 + 35 * max(len(e.facts), 1)),
        )
    if e.fact_rows > len(e.facts):
        st.caption(ui_text("facts_shown", shown=f"{len(e.facts):,}", n=f"{e.fact_rows:,}"))
        every = explain.all_facts(r, e.metric_id, e.region_code, e.month)
    else:
        every = e.facts
    downloads(every, f"facts-{e.metric_id}-{e.region_code}-{e.month:%Y-%m}", r.publish_id)


def _sources(e: explain.Explanation) -> None:
    st.subheader(ui_text("sources_title"))
    st.caption(ui_text("sources_note"))
    if "source_file" not in e.facts or not len(e.facts):
        return
    files = (
        e.facts.groupby(["source_file", "source_sheet"], dropna=False)["source_row"]
        .agg(lambda rows: ", ".join(str(x) for x in sorted(rows)[:30]) + (" …" if len(rows) > 30 else ""))
        .reset_index()
    )
    counts = e.facts.groupby(["source_file", "source_sheet"], dropna=False).size().reset_index(name="facts")
    files = files.merge(counts, on=["source_file", "source_sheet"])
    shown = pd.DataFrame(
        {
            ui_text("file"): files["source_file"],
            ui_text("sheet"): files["source_sheet"],
            ui_text("row"): files["source_row"],
            ui_text("facts"): files["facts"],
        }
    )
    st.markdown(f"**{ui_text('files_title')}**")
    _scroll_table(shown, files, "explain-files", None)


def _runs(r: data.Reader, e: explain.Explanation) -> None:
    lg = lang()
    st.subheader(ui_text("runs_title"))
    if len(e.runs):
        shown = pd.DataFrame(
            {
                ui_text("source"): pages._source_names(r, e.runs["source"]),
                ui_text("endpoint"): pages._dataset_names(r, e.runs["source"], e.runs["source_endpoint"]),
                ui_text("manifest"): e.runs["source_manifest_id"],
                ui_text("landed_at"): [_when(x) for x in e.runs["source_landed_at"]],
                ui_text("loaded_at"): [_when(x) for x in e.runs["source_loaded_at"]],
                ui_text("facts"): e.runs["facts"],
            }
        )
        raw = e.runs.assign(
            source_landed_at=e.runs["source_landed_at"].astype(str),
            source_loaded_at=e.runs["source_loaded_at"].astype(str),
        )
        _scroll_table(shown, raw, "explain-runs", e.publish.get("publish_id"))
    p = e.publish
    with st.container(key="explain-publish"):
        st.markdown(
            " · ".join(
                [
                    f'{ui_text("publish")} <span data-role="publish-id">{p.get("publish_id") or "—"}</span>',
                    f"{ui_text('published_at')} {_when(p.get('published_at'))}",
                    f'{ui_text("dbt_invocation")} <span data-role="dbt-invocation">'
                    f"{p.get('dbt_invocation_id') or '—'}</span>",
                    f"{ui_text('as_of')} {day(p.get('as_of_date'), lg)}",
                ]
            ),
            unsafe_allow_html=True,
        )


def _set_aside(e: explain.Explanation) -> None:
    st.subheader(ui_text("set_aside_title"))
    s = e.set_aside
    if not len(s):
        with st.container(key="explain-set-aside-none"):
            st.success(ui_text("set_aside_none"))
        return
    reason = s["reason_en" if lang() == EN else "reason_zh"].fillna(s["reason_key"])
    shown = pd.DataFrame(
        {
            ui_text("endpoint"): s["dataset"],
            ui_text("record_key"): s["record_key"],
            ui_text("column"): s["column_name"],
            ui_text("reason"): reason,
            ui_text("file"): s["source_file"].fillna("—"),
            ui_text("sheet"): s["source_sheet"].fillna("—"),
            ui_text("row"): [("—" if pd.isna(x) else str(int(x))) for x in s["source_row"]],
            ui_text("manifest"): s["source_manifest_id"],
        }
    )
    raw = s.assign(
        source_landed_at=s["source_landed_at"].astype(str), source_loaded_at=s["source_loaded_at"].astype(str)
    )
    table(shown, raw, "explain-set-aside", e.publish.get("publish_id"))


def _how(e: explain.Explanation) -> None:
    with st.expander(ui_text("how_title")):
        rule = e.rule
        st.markdown(
            ui_text(
                "how_text",
                table=rule["fact_table"],
                filter=f"`{rule['row_filter']}`",
                value=f"`{rule['value_expression']}`",
                aggregation=ui_text(f"aggregation_{rule['aggregation']}"),
            )
        )
        st.code(explain.facts_sql(rule, "source_manifest_id" in e.facts), language="sql")
