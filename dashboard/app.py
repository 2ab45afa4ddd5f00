"""The Streamlit script of the dashboard (run through `dashboard/server.py`, see `make dashboard`)."""

from __future__ import annotations

import streamlit as st

from dashboard import pages
from dashboard.layout import lang, t

st.set_page_config(page_title="一揽子计划实施监测 · Plan metrics", layout="wide")

if "lang_en" not in st.session_state:  # ?lang=en opens the English view
    st.session_state["lang_en"] = st.query_params.get("lang") == "en"
st.sidebar.toggle(t("english"), key="lang_en")

navigation = st.navigation(
    [
        st.Page(pages.overview, title=t("page_overview"), url_path="overview", default=True),
        st.Page(pages.explorer, title=t("page_explorer"), url_path="explorer"),
        st.Page(pages.prefecture_map, title=t("page_map"), url_path="map"),
        st.Page(pages.progress, title=t("page_progress"), url_path="progress"),
        st.Page(pages.quality, title=t("page_quality"), url_path="quality"),
        st.Page(pages.about, title=t("page_about"), url_path="about"),
    ]
)
st.sidebar.link_button(t("docs_link"), "/dbt-docs", icon=":material/menu_book:")
st.sidebar.caption("中文 · English" if lang() == "zh" else "English · 中文")
navigation.run()
