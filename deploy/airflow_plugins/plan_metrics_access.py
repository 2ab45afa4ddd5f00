"""An Airflow plugin for the api-server only (its `[core] plugins_folder` in docker-compose.yml):
`GET /airflow/plan-metrics/me` answers who the caller is — user name, FAB role names and the
counties of their `county-…` roles — for the bearer token they present (from `POST /auth/token`).

It exists because FAB's own user endpoints (`/auth/fab/v1/users/…`) need the "read Users"
permission, which only admins hold, while every user may ask about themselves. The dashboard
uses it right after checking a password through `/auth/token`, so it keeps no user list and
needs no Airflow secret: the user's own token authenticates the question.
"""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI

from deploy.roles import Access

app = FastAPI(title="plan-metrics access", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/me")
def me(user: GetUserDep) -> dict:
    names = tuple(sorted(r.name for r in getattr(user, "roles", []) or []))
    access = Access(user.get_name(), names)
    return {"username": access.username, "roles": list(access.roles), "counties": list(access.counties)}


class PlanMetricsAccess(AirflowPlugin):
    name = "plan_metrics_access"
    fastapi_apps = [{"app": app, "url_prefix": "/plan-metrics", "name": "plan-metrics access"}]
