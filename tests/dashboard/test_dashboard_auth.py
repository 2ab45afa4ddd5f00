"""GIVEN the dashboard's access layer (dashboard/auth.py, deploy/roles.py) WHEN sessions are
signed, forged, expired or revoked, roles are read, and a real dashboard server runs with the
login on (its Airflow unreachable) or without it THEN only a session this dashboard signed
opens anything: every page, /dbt-docs, the app's own requests and its WebSocket are refused
without one; a login that cannot reach Airflow fails closed and is audited; the open local demo
refuses to listen beyond loopback. The whole walk with Airflow's accounts, through the TLS proxy
in Chromium, is tests/deployment/test_prod_celery.py's."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests

from dashboard import auth
from deploy.roles import Access, counties, county_role
from tests.dashboard.conftest import REPO, DashboardServer

pytestmark = pytest.mark.timeout(600)  # the session's published world is built by the first test that needs it

SECRET = "Vq3-x8LmZ2pN7rT4kW9sB6yH1cF5gJ0d"


class LoginServer(DashboardServer):
    """`python -m dashboard` as docker-compose.yml starts it: with the login settings."""

    def __init__(self, data_dir, log, settings: dict[str, str]):
        super().__init__(data_dir, log)
        self.settings = settings

    def start(self, timeout: float = 120) -> LoginServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
        env.update(PLAN_METRICS_DATA_DIR=str(self.data_dir), **self.settings)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--port", str(self.port), "--address", "127.0.0.1"],
            env=env,
            cwd=REPO,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"the dashboard exited with {self.proc.returncode}; see {self.log}"
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=2).ok:
                    return self
            except requests.RequestException:  # not up yet, or slow on a loaded machine
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the dashboard did not answer within {timeout}s; see {self.log}")
            time.sleep(0.2)


@pytest.fixture
def login_on(monkeypatch):
    monkeypatch.setenv("PLAN_METRICS_DASHBOARD_AUTH", "http://127.0.0.1:9/airflow")
    monkeypatch.setenv("PLAN_METRICS_DASHBOARD_SESSION_SECRET", SECRET)
    auth.settings.cache_clear()
    yield
    auth.settings.cache_clear()


def test_a_session_signed_here_opens_and_a_forged_expired_or_revoked_one_does_not(login_on, monkeypatch):
    user = Access("li.wei", ("Reporter", county_role("420106")))
    value, lifetime = auth.issue(user, now=1_000_000)
    assert lifetime == 8 * 3600
    # GIVEN a session issued for li.wei THEN it verifies, with the user's roles and counties
    session = auth.verify(value, now=1_000_000 + 60)
    assert session.access == user and session.access.counties == ("420106",)
    # a payload changed by the browser (more roles) no longer matches its signature
    version, body, sig = value.split(".")
    payload = json.loads(auth._unb64(body))
    payload["r"].append("Admin")
    forged = f"{version}.{auth._b64(json.dumps(payload).encode())}.{sig}"
    assert auth.verify(forged, now=1_000_060) is None
    assert auth.verify(value, now=1_000_000 + lifetime) is None  # expired
    assert auth.verify("v1.e30.x", now=1_000_060) is None and auth.verify("", now=0) is None
    # another deployment's secret does not open this one
    monkeypatch.setenv("PLAN_METRICS_DASHBOARD_SESSION_SECRET", SECRET[::-1])
    auth.settings.cache_clear()
    assert auth.verify(value, now=1_000_060) is None
    monkeypatch.setenv("PLAN_METRICS_DASHBOARD_SESSION_SECRET", SECRET)
    auth.settings.cache_clear()
    # logging out revokes it at once
    auth.revoke(auth.verify(value, now=1_000_060))
    assert auth.verify(value, now=1_000_060) is None


@pytest.mark.parametrize(
    ("roles", "read", "precheck", "mine"),
    [
        (("Viewer",), True, False, ()),
        (("User",), True, False, ()),
        (("Op",), True, False, ()),
        (("Admin",), True, True, "all"),
        (("Reporter", "county-420106-武昌区", "county-420111-洪山区"), False, True, ("420106", "420111")),
        (("Viewer", "Reporter", "county-420106-武昌区"), True, True, ("420106",)),
        (("county-420106-武昌区",), False, False, ()),  # a county without the Reporter role
        (("Public",), False, False, ()),
    ],
)
def test_roles_decide_who_reads_and_who_prechecks_which_county(roles, read, precheck, mine):
    user = Access("someone", roles)
    assert (user.may_read, user.may_precheck) == (read, precheck)
    allowed = {c for c in counties() if user.may_precheck_county(c)}
    assert allowed == (set(counties()) if mine == "all" else set(mine))
    assert user.refused_counties(["420106", "420102"]) == sorted({"420106", "420102"} - allowed)


def test_every_county_of_the_regions_seed_has_a_role_named_with_its_code_and_name():
    assert len(counties()) > 100
    assert county_role("420106") == "county-420106-武昌区"
    assert all(len(county_role(c)) <= 64 for c in counties())  # FAB's role names are at most 64


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/explorer", "/explorer"),
        ("/explorer?lang=en", "/explorer?lang=en"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/logout", "/"),
        ("/login?next=/x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_after_a_login_the_user_goes_back_only_to_a_page_of_this_site(target, expected):
    assert auth.safe_next(target) == expected


# --- a real server with the login on ---------------------------------------------------------
@pytest.fixture(scope="module")
def guarded(tmp_path_factory, published_world):
    """`python -m dashboard` with the login on, its Airflow unreachable (port 9, discard)."""
    folder = tmp_path_factory.mktemp("guarded")
    settings = {
        "PLAN_METRICS_DASHBOARD_AUTH": "http://127.0.0.1:9/airflow",
        "PLAN_METRICS_DASHBOARD_SESSION_SECRET": SECRET,
        "PLAN_METRICS_DASHBOARD_AUDIT_LOG": str(folder / "audit.jsonl"),
    }
    server = LoginServer(published_world.data_dir, folder / "dashboard.log", settings).start()
    yield server, folder / "audit.jsonl"
    server.stop()


def test_without_a_session_every_page_docs_and_app_request_is_refused_and_only_health_answers(guarded):
    server, _ = guarded
    for path in ("/", "/explorer", "/precheck", "/dbt-docs"):
        r = requests.get(server.url + path, allow_redirects=False, timeout=30)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=" + requests.utils.quote(path, safe="")
    for path in ("/_stcore/host-config", "/_stcore/upload_file/x/y", "/static/js/index.js", "/media/x.png"):
        assert requests.get(server.url + path, allow_redirects=False, timeout=30).status_code == 401, path
    assert requests.post(server.url + "/_stcore/upload_file/x/y", timeout=30).status_code == 401
    assert requests.get(server.url + "/_stcore/health", timeout=30).text == "ok"
    form = requests.get(server.url + "/login?next=/explorer", timeout=30)
    assert form.status_code == 200 and 'name="next" value="/explorer"' in form.text
    assert "Secure; HttpOnly; SameSite=Strict" in form.headers["set-cookie"]


def test_the_apps_websocket_is_closed_without_a_session_and_opens_with_one(guarded, login_on):
    import websockets

    server, _ = guarded
    ws_url = server.url.replace("http://", "ws://") + "/_stcore/stream"

    async def connect(headers: dict) -> str:
        try:
            async with websockets.connect(ws_url, additional_headers=headers, open_timeout=20) as ws:
                await ws.close()
                return "open"
        except websockets.exceptions.InvalidStatus as e:
            return f"refused {e.response.status_code}"
        except websockets.exceptions.ConnectionClosed as e:
            return f"closed {e.rcvd.code if e.rcvd else ''}"

    value, _ = auth.issue(Access("viewer", ("Viewer",)))
    assert asyncio.run(connect({})).startswith(("refused 403", "closed 1008"))
    assert asyncio.run(connect({"Cookie": f"{auth.COOKIE}=v1.forged.sig"})).startswith(("refused 403", "closed 1008"))
    assert asyncio.run(connect({"Cookie": f"{auth.COOKIE}={value}", "Origin": server.url})) == "open"


def test_a_session_opens_the_docs_and_a_reader_role_is_needed_for_them(guarded, login_on):
    server, audit_log = guarded
    viewer, _ = auth.issue(Access("viewer", ("Viewer",)))
    reporter, _ = auth.issue(Access("reporter", ("Reporter", county_role("420106"))))
    docs = requests.get(server.url + "/dbt-docs", cookies={auth.COOKIE: viewer}, timeout=30)
    assert docs.status_code == 200 and "<html" in docs.text.lower()
    assert requests.get(server.url + "/dbt-docs", cookies={auth.COOKIE: reporter}, timeout=30).status_code == 403
    events = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert {"event": "view", "user": "viewer", "page": "dbt-docs"}.items() <= events[-2].items()
    assert {"event": "refused", "user": "reporter", "page": "dbt-docs"}.items() <= events[-1].items()


def test_a_login_fails_closed_and_is_audited_when_airflow_cannot_be_reached(guarded):
    server, audit_log = guarded
    s = requests.Session()
    form = s.get(server.url + "/login", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
    cookies = {auth.CSRF_COOKIE: csrf}  # Secure cookies are not sent back over plain HTTP by requests
    fields = {"csrf": csrf, "next": "/", "username": "li.wei", "password": "anything-at-all"}
    r = requests.post(server.url + "/login", data=fields, cookies=cookies, allow_redirects=False, timeout=60)
    assert r.status_code == 503 and "认证服务暂不可用" in r.text and auth.COOKIE not in r.headers.get("set-cookie", "")
    # a form posted from elsewhere (no matching token) is refused before Airflow is asked
    forged = requests.post(server.url + "/login", data={**fields, "csrf": "x"}, cookies=cookies, timeout=30)
    assert forged.status_code == 400
    last = json.loads(audit_log.read_text().splitlines()[-1])
    assert last["event"] == "login_failed" and last["user"] == "li.wei" and "unavailable" in last["reason"]
    assert "anything-at-all" not in audit_log.read_text()


def run_dashboard(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        env={**base, **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_open_local_demo_refuses_to_listen_beyond_loopback_and_a_weak_session_secret_is_refused():
    # GIVEN no login configured WHEN asked to listen on every interface THEN it refuses, saying why
    refused = run_dashboard("--address", "0.0.0.0", "--port", "1")
    assert refused.returncode == 2 and "listens on loopback only" in refused.stderr
    weak = run_dashboard(
        "--address",
        "0.0.0.0",
        env={"PLAN_METRICS_DASHBOARD_AUTH": "http://x/airflow", "PLAN_METRICS_DASHBOARD_SESSION_SECRET": "a" * 40},
    )
    assert weak.returncode == 2 and "PLAN_METRICS_DASHBOARD_SESSION_SECRET" in weak.stderr


def test_make_dashboard_says_it_is_open_on_loopback(tmp_path):
    server = DashboardServer(tmp_path, tmp_path / "dashboard.log").start()
    try:
        deadline = time.monotonic() + 30
        while "open, no login" not in (tmp_path / "dashboard.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (
            "open, no login: the local demo, on this machine only (loopback)"
            in (tmp_path / "dashboard.log").read_text()
        )
        assert requests.get(server.url + "/", allow_redirects=False, timeout=30).status_code == 200
    finally:
        server.stop()


def test_session_ids_are_unique_and_long(login_on):
    ids = {auth.verify(auth.issue(Access("u", ("Viewer",)))[0]).sid for _ in range(200)}
    assert len(ids) == 200 and min(len(i) for i in ids) >= 21
