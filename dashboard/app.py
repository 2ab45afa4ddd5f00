"""The Streamlit script of the dashboard (run through `dashboard/server.py`, see `make dashboard`)."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, explain_page, pages, precheck, reporting
from dashboard.layout import PAGES, lang, ui_text

st.set_page_config(page_title="一揽子计划实施监测 · Plan metrics", layout="wide")

if "lang_en" not in st.session_state:  # ?lang=en opens the English view
    st.session_state["lang_en"] = st.query_params.get("lang") == "en"
st.sidebar.toggle(ui_text("english"), key="lang_en")

# Who is this (production: the login's session, dashboard/auth.py; the local demo: open). Each
# page is shown to the roles it needs; a reporter without a reading role lands on the pre-check.
user = auth.current_user()
READ, PRECHECK = auth.READ, auth.PRECHECK
# 这个数从哪里来: every value links here (layout.explain_link)
PAGES["explain"] = auth.page(explain_page.explain_page, READ, title=ui_text("page_explain"), url_path="explain")
navigation = st.navigation(
    [
        auth.page(pages.overview, READ, title=ui_text("page_overview"), url_path="overview", default=user.may_read),
        auth.page(pages.explorer, READ, title=ui_text("page_explorer"), url_path="explorer"),
        auth.page(pages.prefecture_map, READ, title=ui_text("page_map"), url_path="map"),
        auth.page(pages.progress, READ, title=ui_text("page_progress"), url_path="progress"),
        auth.page(pages.quality, READ, title=ui_text("page_quality"), url_path="quality"),
        PAGES["explain"],
        auth.page(reporting.reporting_page, READ, title=ui_text("page_reporting"), url_path="reporting"),
        auth.page(pages.about, READ, title=ui_text("page_about"), url_path="about"),
        # 上传预检: dashboard/precheck.py asks for the file, dashboard/reporting.py shows the verdict
        auth.page(
            precheck.placeholder,
            PRECHECK,
            title="上传预检" if lang() == "zh" else "Pre-check an upload",
            url_path="precheck",
            default=not user.may_read,
        ),
    ]
)
if user.may_read:
    st.sidebar.link_button(ui_text("docs_link"), "/dbt-docs", icon=":material/menu_book:")
st.sidebar.caption("中文 · English" if lang() == "zh" else "English · 中文")
auth.sidebar(user)
navigation.run()
