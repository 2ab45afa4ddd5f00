"""The dashboard's server: the Streamlit app plus one route, `/dbt-docs`, that serves the dbt
docs page the publish writes beside the published file (`dbt docs generate --static`).

`streamlit run dashboard/server.py` finds `app` and serves it (Streamlit's ASGI mode).
"""

from __future__ import annotations

from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route
from streamlit.starlette import App

from dashboard import data


async def dbt_docs(request):
    page = data.docs_path(data.published_path())
    if not page.exists():
        return PlainTextResponse(
            "dbt 文档页尚未生成 — the dbt docs page is written at the next publish.\n", status_code=404
        )
    return FileResponse(page, media_type="text/html; charset=utf-8")


app = App("app.py", routes=[Route("/dbt-docs", dbt_docs)])
