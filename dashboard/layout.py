"""What the pages share: the reader of the published file, the language, tables with downloads."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.i18n import EN, label, lang

# the headline metric of each measure's card on the overview
HEADLINE = {
    "M01": "roadshows_held",
    "M02": "orders_placed",
    "M03": "anxin_aid_person_times",
    "M04": "online_classroom_views",
    "M05": "publicity_items",
    "M06": "mobile_museum_visitors",
    "M07": "policy_reports",
    "M08": "think_tank_centres",
    "M09": "intl_exchange_events",
}


# pages another page links to (app.py registers them: a function page is linked by its st.Page)
PAGES: dict[str, object] = {}


def explain_link(metric_id: str, region_code: str, month_, key: str, label: str | None = None) -> None:
    """The "这个数从哪里来 / Why this number?" link of one published value: opens the drill-down
    page (dashboard/explain_page.py) at ?metric=…&region=…&month=YYYY-MM."""
    page = PAGES.get("explain")
    if page is None or month_ is None:
        return
    with st.container(key=f"explain-{key}"):
        st.page_link(
            page,
            label=label or ui_text("explain_link"),
            icon=":material/help:",
            query_params={"metric": metric_id, "region": region_code, "month": f"{month_:%Y-%m}"},
        )


def ui_text(key: str, **kw) -> str:
    """The interface text `key` in the reader's language."""
    return label(key, lang(), **kw)


@st.cache_resource
def _database(path: str) -> data.PublishedDatabase:
    return data.PublishedDatabase(path)


def reader() -> data.Reader:
    """The published file as it is now (reopened when a publish swapped a new one in)."""
    path = data.published_path()
    try:
        return _database(str(path)).current()
    except data.NothingPublished:
        st.warning(ui_text("nothing_published", path=path))
        st.stop()


def name_col(df: pd.DataFrame, zh: str = "name_zh", en: str = "name_en") -> pd.Series:
    return df[en] if lang() == EN and en in df else df[zh]


def _csv(df: pd.DataFrame) -> bytes:
    # UTF-8 with a BOM: Excel on Chinese Windows opens it with the right encoding
    return df.to_csv(index=False).encode("utf-8-sig")


def _xlsx(df: pd.DataFrame, sheet: str) -> bytes:
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        df.to_excel(writer, index=False, sheet_name=sheet[:31])
    return out.getvalue()


def downloads(df: pd.DataFrame, name: str, publish_id: str | None) -> None:
    """CSV and XLSX of a table's values as published (numbers, not the formatted text); each
    download is recorded in the audit trail when it is clicked (dashboard/audit.py)."""
    stem = f"{name}-{publish_id or 'unpublished'}"
    left, right, _ = st.columns([1, 1, 4])
    with left:
        st.download_button(
            ui_text("download_csv"),
            data=auth.audited(lambda: _csv(df), name, "csv"),
            file_name=f"{stem}.csv",
            mime="text/csv",
            key=f"dl-csv-{name}",
            on_click="ignore",
            icon=":material/download:",
        )
    with right:
        st.download_button(
            ui_text("download_xlsx"),
            data=auth.audited(lambda: _xlsx(df, name), name, "xlsx"),
            file_name=f"{stem}.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key=f"dl-xlsx-{name}",
            on_click="ignore",
            icon=":material/table_view:",
        )


def table(shown: pd.DataFrame, raw: pd.DataFrame, name: str, publish_id: str | None) -> None:
    """A table as readers see it (formatted) with its downloads (raw values, same rows)."""
    with st.container(key=f"table-{name}"):
        st.table(shown, hide_index=True)
    downloads(raw, name, publish_id)
