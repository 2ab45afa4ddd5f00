"""A client of the deployment's REST API, logged in as one of its users."""

from __future__ import annotations

import requests


class RestApi:
    """The REST API as one user: a token from FAB's `POST /auth/token`, then `/api/v2`."""

    def __init__(self, url: str, username: str, password: str):
        self.url = url
        r = requests.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        assert r.status_code == 201, f"{username} could not log in: {r.status_code} {r.text[:300]}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, f"{self.url}{path}", timeout=60, **kw)

    def __call__(self, method: str, path: str, **kw) -> dict:
        r = self.request(method, f"/api/v2{path}", **kw)
        assert r.ok, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else {}

    def runs(self, dag_id: str) -> list[dict]:
        return self("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]

    def tis(self, dag_id: str, run_id: str) -> dict[str, dict]:
        data = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")
        return {t["task_id"]: t for t in data["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        data = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/tries")
        return sorted(data["task_instances"], key=lambda t: t["try_number"])

    def trigger(self, dag_id: str, conf: dict | None = None) -> requests.Response:
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})


def quote(text: str) -> str:
    return requests.utils.quote(text, safe="")
