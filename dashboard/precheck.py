"""上传预检 · Pre-check an upload — the access-controlled page.

What the pipeline would make of the file (`extract.precheck`, shown by
`dashboard.reporting.precheck_result`) is shown once the user may pre-check the county; the
page holds its place in the navigation (url `/precheck`, only for `Reporter` and `Admin`, app.py) and shows
how it asks about counties: `auth.require_counties(codes)` refuses, with an audit event, a file
of a county the user does not report for. A pre-check that runs records `auth.record("precheck",
county=…, size=…, sha256=…)` — never the file's name or contents.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from dashboard import auth, reporting
from deploy import roles


def placeholder() -> None:
    user = auth.current_user()
    zh = auth._t
    st.title(zh("上传预检", "Pre-check an upload"))
    names = roles.counties()
    mine = user.counties if not user.is_admin else tuple(names)
    st.caption(
        zh("您可以预检这些县（市、区）的文件：", "You may pre-check files of: ")
        + (zh("全部", "every county") if user.is_admin else ", ".join(f"{c} {names.get(c, '')}" for c in mine) or "—")
    )
    county = st.selectbox(
        zh("文件所属县（市、区）", "County of the file"),
        options=list(names),
        index=list(names).index(mine[0]) if mine else 0,
        format_func=lambda c: f"{c} {names[c]}",
        key="precheck-county",
    )
    upload = st.file_uploader(zh("文件", "File"), type=["xlsx", "xls", "csv"], key="precheck-file")
    if st.button(zh("预检", "Pre-check"), disabled=upload is None, key="precheck-run"):
        if not auth.require_counties([county]):
            return
        content = upload.getvalue()
        auth.record(
            "precheck",
            page="precheck",
            county=county,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest()[:16],
        )
        with st.container(key="precheck-result"):
            # the counties the file's own rows name decide, not only the one picked above
            reporting.precheck_result(
                upload.name, content, may_see=lambda found: auth.require_counties(sorted(found | {county}))
            )  # checked in memory, then dropped
