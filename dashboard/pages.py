"""The dashboard's pages: 总览, 指标查询, 地市分布图, 计划进度, 数据质量, 数据说明.

Every number comes from the published file through `dashboard.data`, as published: the
pages pick rows and format them, they never recompute a metric (medians and ratios are
not re-aggregated, totals to date are summed only where the catalog says the metric is
additive over months).
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.i18n import EN, day, delta, month, number
from dashboard.layout import HEADLINE, explain_link, lang, reader, table, ui_text
from extract import reasons
from extract.beijing_time import BEIJING


def _beijing(ts) -> str:
    if ts is None:
        return "—"
    return pd.Timestamp(ts).tz_convert(BEIJING).strftime("%Y-%m-%d %H:%M") + (
        " (UTC+8)" if lang() == EN else "（北京时间）"
    )


def _metric_name(row) -> str:
    return row["name_en"] if lang() == EN else row["name_zh"]


def _title(row) -> str:
    return row["title_en"] if lang() == EN else row["title_zh"]


def _header(r: data.Reader) -> dict:
    info = data.publish_info(r)
    st.title(ui_text("app_title"))
    st.caption(ui_text("app_subtitle"))
    lg = lang()
    with st.container(key="publish-info"):
        st.markdown(
            " · ".join(
                [
                    f'{ui_text("publish")} <span data-role="publish-id">{info["publish_id"] or "—"}</span>',
                    f'{ui_text("published_at")} <span data-role="published-at">{_beijing(info.get("published_at"))}</span>',
                    f'{ui_text("as_of")} <span data-role="as-of">{day(info.get("as_of_date"), lg)}</span>',
                    f'{ui_text("latest_month")} <span data-role="latest-month">{month(info.get("latest_month"), lg)}</span>',
                ]
            ),
            unsafe_allow_html=True,
        )
    return info


# --- 总览 Overview -------------------------------------------------------------------------
def overview() -> None:
    r = reader()
    lg = lang()
    info = _header(r)
    wm = info.get("watermarks") or {}
    with st.expander(ui_text("watermarks")):
        shown = pd.DataFrame({ui_text("source"): list(wm), ui_text("watermark"): list(wm.values())})
        table(shown, shown, "watermarks", info["publish_id"])

    catalog = data.catalog(r).set_index("metric_id")
    targets = data.progress(r)
    cols = st.columns(3)
    for i, m in data.measures(r).iterrows():
        code = m["measure_code"]
        metric_id = HEADLINE.get(code)
        if metric_id not in catalog.index:  # a measure without its usual headline: its first metric
            own = catalog[catalog["measure_code"] == code]
            metric_id = own.index[0] if len(own) else None
        with cols[i % 3], st.container(border=True, key=f"card-{code}"):
            st.markdown(f"**{code}** · {_title(m)}")
            if metric_id is None:
                st.caption(ui_text("no_data"))
                continue
            c = catalog.loc[metric_id]
            h = data.headline(r, metric_id)
            if h is None:
                st.metric(_metric_name(c), ui_text("no_data"), help=c["definition_en" if lg == EN else "definition_zh"])
                continue
            change = h["value"] - h["previous"] if h["previous"] is not None else None
            st.metric(
                _metric_name(c),
                # in English the unit stays in the metric's name: "person-times" does not fit the card
                number(h["value"], h["unit"], lg, with_unit=lg != EN),
                delta=delta(change, h["unit"], lg),
                delta_description=ui_text("vs_previous"),
                chart_data=[v for _, v in h["trend"]],
                chart_type="area",
                help=c["definition_en" if lg == EN else "definition_zh"],
            )
            parts = [f'{ui_text("latest_month")} <span data-role="month">{month(h["month"], lg)}</span>']
            if h["additive"]:
                parts.append(
                    f'{ui_text("to_date")} <span data-role="to-date">{number(h["to_date"], h["unit"], lg)}</span>'
                )
            else:
                parts.append(ui_text("not_additive"))
            goal = (
                targets[(targets["metric_id"] == metric_id) & (targets["region_code"] == data.PROVINCE)]
                if len(targets)
                else []
            )
            if len(goal):
                g = goal.iloc[0]
                parts.append(
                    f"{ui_text('target')} {number(g['target_value'], h['unit'], lg)} · {ui_text('completion')} "
                    f'<span data-role="completion">{number(g["completion_ratio"], "ratio", lg)}</span>'
                )
            st.markdown(" · ".join(parts), unsafe_allow_html=True)
            explain_link(metric_id, data.PROVINCE, h["month"], key=f"card-{code}")


# --- 指标查询 Metric explorer --------------------------------------------------------------
def _pick_metric(r: data.Reader, prefix: str) -> tuple[str, pd.Series]:
    measures = data.measures(r).set_index("measure_code")
    catalog = data.catalog(r).set_index("metric_id")
    c1, c2 = st.columns(2)
    measure = c1.selectbox(
        ui_text("measure"),
        list(measures.index),
        format_func=lambda c: f"{c} {_title(measures.loc[c])}",
        key=f"{prefix}-measure",
    )
    own = catalog[catalog["measure_code"] == measure]
    default = HEADLINE.get(measure)
    options = list(own.index)
    metric_id = c2.selectbox(
        ui_text("metric"),
        options,
        index=options.index(default) if default in options else 0,
        format_func=lambda m: _metric_name(catalog.loc[m]),
        key=f"{prefix}-metric",
    )
    return metric_id, catalog.loc[metric_id]


def explorer() -> None:
    r = reader()
    lg = lang()
    st.title(ui_text("page_explorer"))
    metric_id, c = _pick_metric(r, "explorer")
    name, unit = _metric_name(c), c["unit"]
    st.caption(c["definition_en" if lg == EN else "definition_zh"] + " · " + ui_text("as_published"))
    regions = data.regions(r).set_index("region_code")
    months_ = data.months(r, metric_id)
    if not months_:
        st.info(ui_text("no_data"))
        return
    prefecture, region, chosen, period = _explorer_choices(regions, months_, metric_id)
    _explorer_trend(r, metric_id, region, regions.loc[region, "name_zh"], period, unit, name)
    _explorer_regions(r, metric_id, chosen, prefecture, regions.loc[prefecture, "name_zh"], unit, name)


def _explorer_choices(regions: pd.DataFrame, months_: list[date], metric_id: str) -> tuple:
    """The explorer's choices: (prefecture, region, month, (first, last month of the period))."""
    lg = lang()
    prefectures = regions[regions["level"] == "prefecture"]
    c1, c2, c3, c4 = st.columns([2, 2, 2, 2])
    level = c1.radio(
        ui_text("level"),
        ["province", "prefecture", "county"],
        format_func=ui_text,
        horizontal=True,
        key="explorer-level",
    )
    pref_codes = list(prefectures.index)
    prefecture = c2.selectbox(
        ui_text("prefecture"),
        pref_codes,
        index=pref_codes.index("420100") if "420100" in pref_codes else 0,
        format_func=lambda x: regions.loc[x, "name_zh"],
        key="explorer-prefecture",
    )
    region = data.PROVINCE
    if level == "prefecture":
        region = prefecture
    elif level == "county":
        counties = list(regions[(regions["level"] == "county") & (regions["prefecture_code"] == prefecture)].index)
        region = c3.selectbox(
            ui_text("county"),
            counties or [prefecture],
            format_func=lambda x: regions.loc[x, "name_zh"],
            key="explorer-county",
        )
    chosen = c4.selectbox(
        ui_text("month"), list(reversed(months_)), format_func=lambda d: month(d, lg), key="explorer-month"
    )
    start, end = months_[0], months_[-1]
    if len(months_) > 1:
        # one slider per metric: under a shared key Streamlit kept the range of the metric shown
        # before (e.g. 2020-08 … 2021-12), and a metric with data from 2020-07 lost its first month
        start, end = st.select_slider(
            ui_text("period"),
            options=months_,
            value=(months_[0], months_[-1]),
            format_func=lambda d: f"{d:%Y-%m}",
            key=f"explorer-period-{metric_id}",
        )
    return prefecture, region, chosen, (start, end)


def _explorer_trend(
    r: data.Reader, metric_id: str, region: str, region_name: str, period: tuple, unit: str, name: str
) -> None:
    """The line chart by month of the chosen region, and its table."""
    lg = lang()
    start, end = period
    series = data.series(r, metric_id, region)
    series = series[(series["period_month"] >= start) & (series["period_month"] <= end)]
    st.subheader(ui_text("trend_title", region=region_name))
    picked = None
    with st.container(key="chart-trend"):
        if len(series):
            event = st.altair_chart(
                charts.trend(series, unit, name, lg, pick="point"),
                width="stretch",
                on_select="rerun",
                key=f"trend-pick-{metric_id}-{region}",
            )
            picked = charts.picked_month(event, "point")
        else:  # the source does not report this metric at this region (e.g. prefecture-only metrics)
            st.info(ui_text("no_data"))
    if len(series):  # a point picked on the chart, else the period's last month
        shown_month = picked or series["period_month"].iloc[-1]
        st.caption(ui_text("explain_pick_hint"))
        explain_link(
            metric_id,
            region,
            shown_month,
            key="trend-point",
            label=f"{ui_text('explain_point')} · {month(shown_month, lg)}",
        )
    with st.expander(ui_text("show_table"), expanded=False):
        shown = pd.DataFrame(
            {
                ui_text("month"): [f"{d:%Y-%m}" for d in series["period_month"]],
                ui_text("value"): [number(v, unit, lg) for v in series["value"]],
            }
        )
        raw = pd.DataFrame(
            {
                "metric_id": metric_id,
                "region_code": region,
                "period_month": series["period_month"],
                "value": series["value"],
                "unit": unit,
            }
        )
        table(shown, raw, "trend", r.publish_id)
        if len(series):
            c1, c2 = st.columns([2, 3])
            when = c1.selectbox(
                ui_text("explain_row"),
                list(reversed(list(series["period_month"]))),
                format_func=lambda d: month(d, lg),
                key="explain-pick-trend",
            )
            with c2:
                explain_link(metric_id, region, when, key="row-trend")


def _explorer_regions(
    r: data.Reader, metric_id: str, chosen: date, prefecture: str, prefecture_name: str, unit: str, name: str
) -> None:
    """The ranking of prefectures in the chosen month, then the counties of the chosen prefecture."""
    lg = lang()
    st.subheader(ui_text("ranking_title", month=month(chosen, lg)))
    ranking = data.by_region(r, metric_id, chosen, "prefecture")
    with st.container(key="chart-ranking"):
        if len(ranking):
            st.altair_chart(
                charts.ranking(ranking.rename(columns={"name_zh": "name"}), unit, name, lg), width="stretch"
            )
        else:
            st.info(ui_text("no_data"))
    _region_table(ranking, unit, "ranking", metric_id, chosen, r.publish_id, rank=True)

    st.subheader(ui_text("county_title", prefecture=prefecture_name, month=month(chosen, lg)))
    counties = data.by_region(r, metric_id, chosen, "county", prefecture)
    if len(counties):
        _region_table(counties, unit, "counties", metric_id, chosen, r.publish_id, rank=True)
    else:
        st.caption(ui_text("county_none"))


def _region_table(df: pd.DataFrame, unit: str, name: str, metric_id: str, when: date, publish_id, rank: bool) -> None:
    lg = lang()
    shown = pd.DataFrame(
        {
            ui_text("rank"): range(1, len(df) + 1),
            ui_text("region"): df["name_zh"],
            ui_text("region_code"): df["region_code"],
            ui_text("value"): [number(v, unit, lg) for v in df["value"]],
        }
    )
    if not rank:
        shown = shown.drop(columns=[ui_text("rank")])
    _explain_rows(df, metric_id, when, name)
    raw = pd.DataFrame(
        {
            "metric_id": metric_id,
            "period_month": when,
            "region_code": df["region_code"],
            "name_zh": df["name_zh"],
            "value": df["value"],
            "unit": unit,
        }
    )
    table(shown, raw, name, publish_id)


def _explain_rows(df: pd.DataFrame, metric_id: str, when: date, name: str) -> None:
    """Beside a region table: pick one of its rows and open that value's explanation."""
    if not len(df):
        return
    names = dict(zip(df["region_code"], df["name_zh"], strict=True))
    c1, c2 = st.columns([2, 3])
    code = c1.selectbox(
        ui_text("explain_row"), list(names), format_func=lambda x: f"{names[x]} {x}", key=f"explain-pick-{name}"
    )
    with c2:
        explain_link(metric_id, code, when, key=f"row-{name}")


# --- 地市分布图 Map --------------------------------------------------------------------------
def prefecture_map() -> None:
    r = reader()
    lg = lang()
    st.title(ui_text("page_map"))
    metric_id, c = _pick_metric(r, "map")
    name, unit = _metric_name(c), c["unit"]
    months_ = data.months(r, metric_id)
    if not months_:
        st.info(ui_text("no_data"))
        return
    chosen = st.selectbox(
        ui_text("month"), list(reversed(months_)), format_func=lambda d: month(d, lg), key="map-month"
    )
    regions = data.regions(r)
    names = dict(zip(regions["region_code"], regions["name_zh"], strict=True))
    values = data.by_region(r, metric_id, chosen, "prefecture")
    st.subheader(ui_text("map_title", metric=name, month=month(chosen, lg)))
    with st.container(key="chart-map"):
        st.altair_chart(charts.tile_map(values, names, unit, name, lg), width="content")
    st.caption(ui_text("map_note"))
    _region_table(values, unit, "map", metric_id, chosen, r.publish_id, rank=True)


# --- 计划进度 Plan progress ------------------------------------------------------------------
def progress() -> None:
    r = reader()
    lg = lang()
    st.title(ui_text("page_progress"))
    info = data.publish_info(r)
    df = data.progress(r)
    if not len(df):
        st.info(ui_text("no_targets"))
        return
    as_of = info.get("as_of_date") or date.today()
    st.caption(ui_text("progress_note", month=month(df["as_of_month"].iloc[0], lg), as_of=day(as_of, lg)))
    name_col = "metric_name_en" if lg == EN else "metric_name_zh"
    df = df.assign(
        target_label=[
            f"{m} {n} · {g or c}"
            for m, n, g, c in zip(
                df["measure_code"], df[name_col], df["region_name_zh"], df["region_code"], strict=True
            )
        ],
        days_left=[(d - as_of).days if d is not None and not pd.isna(d) else None for d in df["deadline"]],
    )
    with st.container(key="chart-progress"):
        st.altair_chart(charts.completion(df, lg), width="stretch")
    shown = pd.DataFrame(
        {
            ui_text("measure"): df["measure_code"],
            ui_text("metric"): df[name_col],
            ui_text("region"): df["region_name_zh"].fillna(df["region_code"]),
            ui_text("target"): [number(v, u, lg) for v, u in zip(df["target_value"], df["unit"], strict=True)],
            ui_text("actual"): [number(v, u, lg) for v, u in zip(df["actual_to_date"], df["unit"], strict=True)],
            ui_text("completion"): [number(v, "ratio", lg) for v in df["completion_ratio"]],
            ui_text("deadline"): [day(d, lg) for d in df["deadline"]],
            ui_text("days_left"): [
                "—" if v is None else (f"{v}" if v >= 0 else f"{ui_text('overdue')} ({-v})") for v in df["days_left"]
            ],
        }
    )
    raw = df[
        [
            "measure_code",
            "metric_id",
            "region_code",
            "target_value",
            "actual_to_date",
            "completion_ratio",
            "deadline",
            "as_of_month",
        ]
    ].assign(days_left=df["days_left"])
    table(shown, raw, "progress", r.publish_id)
    _explain_target(df, df["as_of_month"].iloc[0])


def _explain_target(df: pd.DataFrame, as_of_month: date) -> None:
    """Below the targets: pick one and open the explanation of its metric's value in the latest month."""
    lg = lang()
    c1, c2 = st.columns([3, 2])
    i = c1.selectbox(
        ui_text("explain_progress", month=month(as_of_month, lg)),
        list(range(len(df))),
        format_func=lambda k: df["target_label"].iloc[k],
        key="explain-pick-progress",
    )
    with c2:
        explain_link(df["metric_id"].iloc[i], df["region_code"].iloc[i], as_of_month, key="row-progress")


# --- 数据质量 Data quality -------------------------------------------------------------------
def quality() -> None:
    r = reader()
    st.title(ui_text("page_quality"))
    _quality_publishes(r)
    _quality_warnings(r)
    _quality_quarantine(r)


def _quality_publishes(r: data.Reader) -> None:
    st.subheader(ui_text("last_publishes"))
    pubs = data.publishes(r)
    metric_rows = [json.loads(x).get("plan_metric_values") if isinstance(x, str) else None for x in pubs["row_counts"]]
    shown = pd.DataFrame(
        {
            ui_text("publish"): pubs["publish_id"],
            ui_text("published_at"): [_beijing(x) for x in pubs["published_at"]],
            ui_text("checks_passed"): pubs["checks_passed"],
            ui_text("checks_failed"): pubs["checks_failed"],
            ui_text("rows"): metric_rows,
        }
    )
    table(shown, pubs.assign(published_at=pubs["published_at"].astype(str)), "publishes", r.publish_id)


def _quality_warnings(r: data.Reader) -> None:
    st.subheader(ui_text("warnings"))
    warnings = data.quality_warnings(r)
    if not len(warnings):
        st.success(ui_text("no_warnings"))
    else:
        shown = pd.DataFrame(
            {
                ui_text("checked_at"): [_beijing(x) for x in warnings["checked_at"]],
                ui_text("layer"): warnings["layer"],
                ui_text("table"): warnings["table_name"],
                ui_text("check"): warnings["check_name"].str.slice(0, 80),
                ui_text("severity"): warnings["severity"],
                ui_text("observed"): warnings["observed"],
            }
        )
        table(shown, warnings.assign(checked_at=warnings["checked_at"].astype(str)), "warnings", r.publish_id)


def _quality_quarantine(r: data.Reader) -> None:
    st.subheader(ui_text("quarantine"))
    q = data.quarantine(r)
    if not len(q):
        st.success(ui_text("no_quarantine"))
        return
    # sources, datasets and reasons by their Chinese (or English) names: the published
    # source_names, and the reasons table (extract/reasons.py) for the pipeline's English reasons
    names = q.assign(
        source=_source_names(r, q["source"]),
        endpoint=_dataset_names(r, q["source"], q["endpoint"]),
        reason=[
            reasons.reason(reasons.key_of(x, c)).text(lang())
            for x, c in zip(q["reason"], q["column_name"], strict=True)
        ],
    )
    per_source = names.groupby("source", as_index=False)["records"].sum()
    import altair as alt

    with st.container(key="chart-quarantine"):
        st.altair_chart(
            alt.Chart(per_source)
            .mark_bar()
            .encode(
                y=alt.Y("source:N", sort="-x", title=ui_text("source")),
                x=alt.X("records:Q", title=ui_text("records")),
                tooltip=["source", "records"],
            )
            .properties(height=40 * len(per_source) + 40, description="quarantined records per source"),
            width="stretch",
        )
    shown = pd.DataFrame(
        {
            **({ui_text("stage"): [ui_text(f"stage_{s}") for s in q["stage"]]} if "stage" in q else {}),
            ui_text("source"): names["source"],
            ui_text("endpoint"): names["endpoint"],
            ui_text("column"): q["column_name"],
            ui_text("reason"): names["reason"],
            ui_text("records"): q["records"],
            ui_text("files"): q["files"],
            ui_text("last_seen"): [_beijing(x) if not pd.isna(x) else "—" for x in q["last_quarantined_at"]],
        }
    )
    table(
        shown,
        q.assign(
            first_quarantined_at=q["first_quarantined_at"].astype(str),
            last_quarantined_at=q["last_quarantined_at"].astype(str),
        ),
        "quarantine",
        r.publish_id,
    )


def _source_names(r: data.Reader, sources: pd.Series) -> list[str]:
    names = data.source_names(r)
    col = "source_name_en" if lang() == EN else "source_name_zh"
    known = dict(zip(names["source"], names[col], strict=True))
    return [known.get(s, s) for s in sources]


def _dataset_names(r: data.Reader, sources: pd.Series, datasets: pd.Series) -> list[str]:
    names = data.source_names(r)
    col = "dataset_name_en" if lang() == EN else "dataset_name_zh"
    known = dict(zip(zip(names["source"], names["dataset"], strict=True), names[col], strict=True))
    return [known.get((s, d), d) for s, d in zip(sources, datasets, strict=True)]


# --- 数据说明 About the data -----------------------------------------------------------------
def about() -> None:
    r = reader()
    st.title(ui_text("page_about"))
    st.markdown(ui_text("about_intro", path=f"`{r.path}`"))
    if data.docs_path(r.path).exists():
        st.link_button(ui_text("docs_link"), "/dbt-docs", icon=":material/menu_book:")
    else:
        st.caption(ui_text("docs_missing"))
    rel = data.table_comments(r)
    kinds = {"table": "表", "view": "视图"} if lang() != EN else {}
    shown = pd.DataFrame(
        {
            ui_text("relation"): "metrics." + rel["relation"],
            ui_text("kind"): [kinds.get(k, k) for k in rel["kind"]],
            ui_text("comment"): rel["comment"],
        }
    )
    table(shown, rel, "relations", r.publish_id)
    choice = st.selectbox(
        ui_text("relation"), list(rel["relation"]), format_func=lambda x: f"metrics.{x}", key="about-relation"
    )
    cols = data.column_comments(r, choice)
    shown = pd.DataFrame(
        {
            ui_text("column"): cols["column_name"],
            ui_text("data_type"): cols["data_type"],
            ui_text("comment"): cols["comment"],
        }
    )
    table(shown, cols, f"columns-{choice}", r.publish_id)
