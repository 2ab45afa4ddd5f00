"""数据报送 (Reporting) and the result of 上传预检 (pre-check an upload): the loop with the people
who send the S4 reports.

数据报送, per county: its report template (extract/templates.py, built from the published S1
registry), its return list (`metrics.report_returns`: every row set aside with what to change,
and whether a later file fixed it; downloadable as the XLSX the county notices attach,
warehouse/notices.py) and who has not reported for a month (`metrics.unreported_centres`)
beside the county's published report rate. Everything is read from the published file.

上传预检: `precheck_result` shows what `extract.precheck` makes of an uploaded file — the same
parsing and staging rules as the pipeline, against the published registry and "as of" day;
the bytes are checked in memory and dropped (dashboard/precheck.py is the page that asks for
the file).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.i18n import EN, day, month, number
from dashboard.layout import lang, reader, ui_text
from extract import reasons

SOURCE = "rural_centre_reports"
UNKNOWN = "_unknown"  # the county selector's entry for files refused whole (no county)


def _county_label(counties: pd.DataFrame):
    names = {c: f"{c} {n}" + (f"（{p}）" if p and p != n else "") for c, n, p in counties.itertuples(index=False)}
    return lambda code: ui_text("county_unknown") if code == UNKNOWN else names.get(code, code)


def reporting_page() -> None:
    r = reader()
    lg = lang()
    st.title(ui_text("page_reporting"))
    st.caption(ui_text("reporting_intro"))
    counties = data.reporting_counties(r)
    if not len(counties):
        st.info(ui_text("no_data"))
        return
    options = [*counties["county_code"], UNKNOWN]
    county = st.selectbox(ui_text("county"), options, format_func=_county_label(counties), key="reporting-county")
    if county != UNKNOWN:
        _template(r, county, counties)
    _returns(r, None if county == UNKNOWN else county, lg)
    if county != UNKNOWN:
        _unreported(r, county, lg)


def _template(r: data.Reader, county: str, counties: pd.DataFrame) -> None:
    from extract import templates

    st.subheader(ui_text("template"))
    name = counties.set_index("county_code").loc[county, "name_zh"]
    centres = data.centres(r, county)
    active = [templates.Centre(c, s, county) for c, s, a in zip(centres["centre_id"], centres["school_name"],
                                                                 centres["is_active"], strict=True) if a]  # fmt: skip
    st.caption(ui_text("template_note", n=len(active)))
    as_of = data.publish_info(r).get("as_of_date")
    st.download_button(
        ui_text("download_template"),
        data=auth.audited(lambda: templates.county_template(county, name, active, as_of), "template", "xlsx"),
        file_name=templates.template_name(county, name),
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"dl-template-{county}",
        on_click="ignore",
        icon=":material/edit_document:",
        disabled=not active or as_of is None,
    )


def _returns(r: data.Reader, county: str | None, lg: str) -> None:
    from warehouse.notices import return_list_rows, return_list_xlsx

    st.subheader(ui_text("returns_title"))
    if not r.has("report_returns"):
        st.info(ui_text("no_data"))
        return
    df = data.report_returns(r, county)
    if not len(df):
        st.success(ui_text("returns_none"))
        return
    st.markdown(
        f'<span data-role="returns-count">{ui_text("returns_open", open=int((~df["fixed"]).sum()), fixed=int(df["fixed"].sum()))}</span>',
        unsafe_allow_html=True,
    )
    rows = df.to_dict("records")
    for row in rows:
        for col in ("report_month", "received_at"):
            row[col] = None if pd.isna(row[col]) else row[col]
    headers, body = return_list_rows(rows, lg)
    with st.container(key="table-returns"):
        st.table(pd.DataFrame(body, columns=headers), hide_index=True)
    label = county or "unknown"
    title = f"{label} {ui_text('returns_title')}"
    st.download_button(
        ui_text("download_returns"),
        data=auth.audited(
            lambda: return_list_xlsx([x for x in rows if not x["fixed"]], title, lg), "report_returns", "xlsx"
        ),  # fmt: skip
        file_name=f"{label}_退回清单_{r.publish_id or 'unpublished'}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"dl-returns-{label}",
        on_click="ignore",
        icon=":material/download:",
    )


def _unreported(r: data.Reader, county: str, lg: str) -> None:
    st.subheader(ui_text("unreported_title"))
    if not r.has("unreported_centres"):
        st.info(ui_text("no_data"))
        return
    missing = data.unreported(r, county)
    rates = data.report_rate(r, county)
    months = sorted(set(missing["period_month"]) | set(rates["period_month"]), reverse=True)
    if not months:
        st.info(ui_text("no_data"))
        return
    chosen = st.selectbox(ui_text("month"), months, format_func=lambda d: month(d, lg), key=f"reporting-month-{county}")
    rate = rates[rates["period_month"] == chosen]["value"]
    shown_rate = number(rate.iloc[0], "ratio", lg) if len(rate) else ui_text("report_rate_none")
    st.markdown(f'{ui_text("report_rate")} <span data-role="report-rate">{shown_rate}</span>', unsafe_allow_html=True)
    rows = missing[missing["period_month"] == chosen]
    if not len(rows):
        st.success(ui_text("unreported_none"))
        return
    shown = pd.DataFrame(
        {
            ui_text("centre"): rows["centre_id"],
            ui_text("school"): rows["school_name"],
            ui_text("deadline_col"): [day(d, lg) for d in rows["deadline"]],
            ui_text("days_overdue"): [str(n) if late else ui_text("not_due") for n, late in zip(rows["days_overdue"],
                                                                                   rows["is_overdue"], strict=True)],
        }
    )  # fmt: skip
    with st.container(key="table-unreported"):
        st.table(shown, hide_index=True)


# --- 上传预检: the result of a check -------------------------------------------------------------
def precheck_result(name: str, content: bytes, may_see=lambda counties: True) -> None:
    """What the pipeline would make of an uploaded file, row by row; the bytes are not kept.
    `may_see(counties)`: whether this user may see the verdict of a file whose rows are of
    those counties (it refuses, and says so, otherwise)."""
    from extract import precheck
    from settings import Settings

    settings = Settings.from_env()  # this request's edge
    r = reader()
    lg = lang()
    info = data.publish_info(r)
    as_of = info.get("as_of_date") or precheck.Registry.from_published(None, settings).as_of  # no publish yet: today
    registry = precheck.Registry(data.registry_ids(r), as_of)
    verdict = precheck.check_upload(name, content, SOURCE, registry, settings)
    if not may_see(verdict.counties):
        return
    with st.container(key="precheck-summary"):
        if verdict.rejected is not None:
            st.error(ui_text("precheck_refused") + verdict.rejection(lg), icon=":material/block:")
        elif verdict.ok:
            st.success(ui_text("precheck_ok", n=len(verdict.loading)), icon=":material/check_circle:")
        else:
            st.error(ui_text("precheck_bad", bad=len(verdict.set_aside)), icon=":material/error:")
    if verdict.set_aside:
        st.subheader(ui_text("precheck_set_aside"))
        shown = pd.DataFrame(
            {
                ui_text("row"): [v.row_number for v in verdict.set_aside],
                ui_text("column"): [v.column for v in verdict.set_aside],
                ui_text("reason"): [reasons.reason(v.reason_key).text(lg) for v in verdict.set_aside],
                ui_text("fix"): [v.line(lg) for v in verdict.set_aside],
                ui_text("value_written"): [reasons.shown_value(v.value, lg) for v in verdict.set_aside],
            }
        )
        with st.container(key="table-precheck-set-aside"):
            st.table(shown, hide_index=True)
    if verdict.loading:
        st.subheader(ui_text("precheck_loads"))
        shown = pd.DataFrame(
            {
                ui_text("row"): [v.row_number for v in verdict.loading],
                ui_text("centre"): [v.identity.get("centre_id", "") for v in verdict.loading],
                ui_text("month"): [v.identity.get("report_month", "")[:7] for v in verdict.loading],
            }
        )
        with st.container(key="table-precheck-loads"):
            st.table(shown, hide_index=True)
    st.caption(
        ui_text("precheck_note", day=day(registry.as_of, lg))
        if lg != EN
        else ui_text("precheck_note", day=registry.as_of)
    )
