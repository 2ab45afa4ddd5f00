"""The dashboard's server: the Streamlit app plus `/dbt-docs`, which serves the dbt docs page the
publish writes beside the published file (`dbt docs generate --static`), and — in production,
with PLAN_METRICS_DASHBOARD_AUTH set — the login (`/login`, `/logout`) and the middleware that
refuses every request without a session (dashboard/auth.py).

`streamlit run dashboard/server.py` finds `app` and serves it (Streamlit's ASGI mode).
"""

from __future__ import annotations

from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route
from streamlit.starlette import App

from dashboard import auth, data


async def dbt_docs(request):
    page = data.docs_path(data.published_path())
    if not page.exists():
        return PlainTextResponse(
            "dbt 文档页尚未生成 — the dbt docs page is written at the next publish.\n", status_code=404
        )
    if auth.settings().enabled:
        auth.audit_request(request, "view", page="dbt-docs")
    return FileResponse(page, media_type="text/html; charset=utf-8")


app = App("app.py", routes=[Route("/dbt-docs", dbt_docs), *auth.routes()], middleware=auth.middleware())
