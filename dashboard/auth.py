"""Who may see the dashboard: one login with Airflow's accounts and roles (FAB), in production.

With PLAN_METRICS_DASHBOARD_AUTH set to the Airflow API's URL (docker-compose.yml:
`http://airflow-apiserver:8080/airflow`), every page, /dbt-docs and the pre-check need a login:

1. `/login` shows a form; its POST checks the password with Airflow (`POST /auth/token`) and
   asks who the user is with that token (`GET /plan-metrics/me`, the api-server's plugin in
   deploy/airflow_plugins/: user name, FAB roles, the counties of their `county-…` roles).
   Airflow's lockout (deploy/fab_security.py) applies: three wrong passwords lock the account
   for every way in. The dashboard keeps no user list and holds no Airflow secret.
2. The session is a cookie signed with PLAN_METRICS_DASHBOARD_SESSION_SECRET (HMAC-SHA256;
   HttpOnly, Secure, SameSite=Lax, 8 hours: PLAN_METRICS_DASHBOARD_SESSION_HOURS) holding the
   user name, role names and counties as Airflow gave them at login: a role change applies
   at the next login. `/logout` revokes it at once.
3. An ASGI middleware refuses every request without a valid session (a page: to /login; the
   app's own requests and its WebSocket: 401), and /dbt-docs without a reading role.
4. Pages ask `current_user()` (an `Access`, deploy/roles.py: `may_read`, `may_precheck`,
   `counties`, `may_precheck_county(code)`); `page(...)` wraps a page so that only the roles it
   needs see it, and `require_counties(codes)` refuses a pre-check for a county not assigned.

Without PLAN_METRICS_DASHBOARD_AUTH (`make dashboard`, the local demo) nothing asks for a login
and `python -m dashboard` refuses to listen anywhere but loopback.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

from dashboard import audit
from dashboard.i18n import EN, lang
from deploy.roles import Access

COOKIE = "plan_metrics_session"
CSRF_COOKIE = "plan_metrics_login_csrf"
READ, PRECHECK = "read", "precheck"
LOCAL_USER = Access("本机演示 local demo", ("Admin",))  # the open local demo: every page, every county
# paths that need no session: the login form, the way out (it ends whatever session it gets) and
# the health check of compose
PUBLIC = ("/login", "/logout", "/_stcore/health")
# paths that need more than a session
NEEDS = {"/dbt-docs": READ}


# --- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    airflow: str | None  # the Airflow API base URL (…/airflow), None: open local demo
    secret: bytes
    hours: float
    max_failures: int = 3  # failed logins before Airflow locks the account (deploy/fab_security.py)

    @property
    def enabled(self) -> bool:
        return self.airflow is not None


@functools.cache
def settings() -> Settings:
    """The login's settings, from the server process's (read once: this is cached)."""
    from settings import Settings as ProcessSettings

    read = ProcessSettings.from_env()
    url, secret = read.dashboard_auth, read.dashboard_session_secret
    if url:
        from deploy.env_secrets import BY_NAME, problem

        bad = problem(BY_NAME["DASHBOARD_SESSION_SECRET"], secret)
        if bad:
            raise RuntimeError(f"PLAN_METRICS_DASHBOARD_SESSION_SECRET: {bad}")
    return Settings(url, secret.encode(), read.dashboard_session_hours, read.login_max_failures)


# --- the session cookie --------------------------------------------------------------------
_revoked: dict[str, float] = {}  # session id → its expiry (logged out before it ran out)
_revoked_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes) -> str:
    return _b64(hmac.new(settings().secret, payload, hashlib.sha256).digest())


def issue(access: Access, now: float | None = None) -> tuple[str, int]:
    """A signed session for `access`: (cookie value, lifetime in seconds)."""
    now = time.time() if now is None else now
    lifetime = int(settings().hours * 3600)
    body = {"sid": secrets.token_urlsafe(16), "u": access.username, "r": list(access.roles), "exp": int(now) + lifetime}
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return f"v1.{_b64(payload)}.{_sign(payload)}", lifetime


@dataclass(frozen=True)
class Session:
    sid: str
    access: Access
    exp: int


def verify(value: str | None, now: float | None = None) -> Session | None:
    """The session a cookie value holds, or None (missing, forged, expired or logged out)."""
    if not value or value.count(".") != 2:
        return None
    version, body, sig = value.split(".")
    try:
        payload = _unb64(body)
        if version != "v1" or not hmac.compare_digest(_sign(payload), sig):
            return None
        data = json.loads(payload)
        session = Session(str(data["sid"]), Access(str(data["u"]), tuple(map(str, data["r"]))), int(data["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    now = time.time() if now is None else now
    if session.exp <= now:
        return None
    with _revoked_lock:
        if session.sid in _revoked:
            return None
    return session


def revoke(session: Session) -> None:
    now = time.time()
    with _revoked_lock:
        for sid in [s for s, exp in _revoked.items() if exp <= now]:
            del _revoked[sid]
        _revoked[session.sid] = session.exp


def session_of_headers(headers: Iterable[tuple[bytes, bytes]]) -> Session | None:
    jar = SimpleCookie()
    for name, value in headers:
        if name.lower() == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return None
    morsel = jar.get(COOKIE)
    return verify(morsel.value if morsel else None)


# --- Airflow: the password check and who the user is --------------------------------------
class AirflowUnavailable(Exception):
    pass


def airflow_login(username: str, password: str) -> Access | None:
    """The user's access when Airflow accepts the password (None when it refuses: a wrong
    password, an unknown, inactive or locked account — Airflow does not say which)."""
    import requests

    base = settings().airflow
    try:
        r = requests.post(f"{base}/auth/token", json={"username": username, "password": password}, timeout=30)
        if r.status_code in (400, 401, 403):
            return None
        r.raise_for_status()
        token = r.json()["access_token"]
        me = requests.get(f"{base}/plan-metrics/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        me.raise_for_status()
        info = me.json()
    except (requests.RequestException, ValueError, KeyError) as e:
        raise AirflowUnavailable(f"{type(e).__name__}") from e
    return Access(str(info["username"]), tuple(str(r) for r in info["roles"]))


# --- the ASGI side: middleware, /login, /logout --------------------------------------------
def client_ip(headers: dict[str, str], fallback: str | None) -> str | None:
    """The proxy's X-Real-IP (only the proxy reaches the dashboard in production), else the peer."""
    return headers.get("x-real-ip") or fallback


class AuthMiddleware:
    """Refuses every HTTP request and WebSocket without a valid session (see the module doc)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not settings().enabled:
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path in PUBLIC:
            return await self.app(scope, receive, send)
        session = session_of_headers(scope.get("headers", []))
        if session is None:
            return await _refuse(scope, receive, send, path)
        need = NEEDS.get(path)
        if need and not allowed(session.access, need):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            audit.record("refused", session.access.username, page=path.strip("/"), ip=client_ip(headers, _peer(scope)))
            return await _plain(send, 403, "无权访问 — your roles do not allow this page.\n")
        scope.setdefault("state", {})["plan_metrics_session"] = session
        return await self.app(scope, receive, send)


def _peer(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def _plain(send, status: int, text: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse(scope, receive, send, path: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    internal = path.startswith(("/_stcore/", "/media/", "/component/", "/static/"))
    if scope.get("method") in ("GET", "HEAD") and not internal:
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        location = f"/login?next={quote(target, safe='')}"
        await _plain(send, 303, "login required\n", [(b"location", location.encode())])
        return
    await _plain(send, 401, "login required\n")


def safe_next(target: str | None) -> str:
    """A local path to go to after the login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if target.split("?")[0] in ("/login", "/logout"):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


_FORM = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · Log in — 一揽子计划实施监测</title>
<style>
body {{ font-family: 'Noto Sans CJK SC', 'Source Sans', sans-serif; background: #f4f6f8; margin: 0; }}
main {{ max-width: 380px; margin: 12vh auto; background: #fff; padding: 2rem 2.2rem; border-radius: 8px;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.25rem; margin: 0 0 .25rem; }} p.sub {{ color: #555; margin: 0 0 1.5rem; font-size: .9rem; }}
label {{ display: block; margin: .9rem 0 .3rem; font-size: .95rem; }}
input[type=text], input[type=password] {{ width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem;
       border: 1px solid #bbb; border-radius: 4px; }}
button {{ margin-top: 1.4rem; width: 100%; padding: .6rem; font-size: 1rem; background: #c8102e; color: #fff;
       border: 0; border-radius: 4px; cursor: pointer; }}
.error {{ background: #fdecea; color: #8a1c1c; padding: .6rem .8rem; border-radius: 4px; font-size: .9rem; }}
.note {{ color: #666; font-size: .8rem; margin-top: 1.2rem; }}
</style></head>
<body><main>
<h1>一揽子计划实施监测</h1><p class="sub">请使用 Airflow 账户登录 · Log in with your Airflow account</p>
{error}
<form method="post" action="/login" id="login">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">用户名 · User name</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus value="{username}">
<label for="password">密码 · Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">登录 · Log in</button>
</form>
<p class="note">连续 {failures} 次密码错误后账户将被锁定，请联系管理员。<br>
The account locks after {failures} wrong passwords in a row; ask an administrator.</p>
</main></body></html>
"""

ERRORS = {
    "failed": "用户名或密码错误，或账户已被锁定。 · Wrong user name or password, or the account is locked.",
    "no_role": "该账户没有看板或上传预检的权限。 · This account has no role for the dashboard or the pre-check.",
    "csrf": "登录表单已过期，请重试。 · The login form expired; please try again.",
    "unavailable": "认证服务暂不可用，请稍后再试。 · Airflow, which checks logins, is not answering; try again later.",
    "logged_out": "已退出登录。 · You are logged out.",
}


def _cookie(name: str, value: str, max_age: int, path: str = "/", samesite: str = "Lax") -> str:
    return f"{name}={value}; Max-Age={max_age}; Path={path}; Secure; HttpOnly; SameSite={samesite}"


def _form(request, error: str | None = None, username: str = "", status: int = 200):
    from starlette.responses import HTMLResponse

    # one token per browser (double submit: the form's field must equal the cookie): a second
    # GET of the form (another tab, the favicon's redirect) keeps the first one valid
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    failures = str(settings().max_failures)
    page = _FORM.format(
        error=f'<p class="error" role="alert">{html.escape(ERRORS[error])}</p>' if error else "",
        csrf=csrf,
        next=html.escape(safe_next(request.query_params.get("next") or request.scope.get("plan_metrics_next"))),
        username=html.escape(username),
        failures=html.escape(failures),
    )
    response = HTMLResponse(page, status_code=status, headers={"cache-control": "no-store"})
    response.headers.append("set-cookie", _cookie(CSRF_COOKIE, csrf, 3600, path="/login", samesite="Strict"))
    return response


async def login(request):
    """GET: the form. POST: check the password with Airflow, then start a session."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse

    if request.method == "GET":
        return _form(request, "logged_out" if request.query_params.get("out") else None)
    form = await request.form()
    request.scope["plan_metrics_next"] = str(form.get("next") or "/")
    ip = client_ip({k.lower(): v for k, v in request.headers.items()}, request.client.host if request.client else None)
    username = str(form.get("username") or "").strip()[:256]
    password = str(form.get("password") or "")[:1024]
    if not hmac.compare_digest(str(form.get("csrf") or ""), request.cookies.get(CSRF_COOKIE) or "-"):
        return _form(request, "csrf", username, status=400)
    if not username or not password:
        return _form(request, "failed", username, status=401)
    try:
        access = await run_in_threadpool(airflow_login, username, password)
    except AirflowUnavailable as e:
        audit.record("login_failed", username, reason=f"airflow unavailable ({e})", ip=ip)
        return _form(request, "unavailable", username, status=503)
    if access is None:
        audit.record("login_failed", username, reason="refused by Airflow (wrong password, or locked)", ip=ip)
        return _form(request, "failed", username, status=401)
    if not (access.may_read or access.may_precheck):
        audit.record("login_refused", access.username, reason="no dashboard role", ip=ip)
        return _form(request, "no_role", username, status=403)
    value, lifetime = issue(access)
    audit.record("login", access.username, ip=ip)
    response = RedirectResponse(safe_next(str(form.get("next") or "/")), status_code=303)
    response.headers.append("set-cookie", _cookie(COOKIE, value, lifetime))
    response.headers.append("set-cookie", _cookie(CSRF_COOKIE, "", 0, path="/login", samesite="Strict"))
    return response


async def logout(request):
    from starlette.responses import RedirectResponse

    session = session_of_headers(request.scope.get("headers", []))
    if session is not None:
        revoke(session)
        ip = client_ip(
            {k.lower(): v for k, v in request.headers.items()}, request.client.host if request.client else None
        )
        audit.record("logout", session.access.username, ip=ip)
    response = RedirectResponse("/login?out=1", status_code=303)
    response.headers.append("set-cookie", _cookie(COOKIE, "", 0))
    return response


def routes() -> list:
    from starlette.routing import Route

    if not settings().enabled:
        return []
    return [Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["GET", "POST"])]


def middleware() -> list:
    from starlette.middleware import Middleware

    return [Middleware(AuthMiddleware)] if settings().enabled else []


def request_user(request) -> Access:
    """The user of an ASGI request that went through the middleware (the local user when open)."""
    session = request.scope.get("state", {}).get("plan_metrics_session")
    return session.access if session is not None else LOCAL_USER


def audit_request(request, event: str, **fields) -> None:
    ip = client_ip({k.lower(): v for k, v in request.headers.items()}, request.client.host if request.client else None)
    audit.record(event, request_user(request).username, ip=ip, **fields)


# --- the Streamlit side: who is this user, which pages, which counties ----------------------
def _t(zh: str, en: str) -> str:
    return en if lang() == EN else zh


def current_user() -> Access:
    """Who is using this page. In production the session cookie of the app's WebSocket (checked
    again on every run, so a logout or an expiry ends an open page at its next click); the
    local demo's user when the dashboard is open. Stops the script when there is no session."""
    import streamlit as st

    if not settings().enabled:
        return LOCAL_USER
    session = verify(st.context.cookies.get(COOKIE))
    if session is None:
        st.warning(_t("登录已过期，请重新登录。", "Your session has ended; please log in again."))
        st.link_button(_t("登录", "Log in"), "/login")
        st.stop()
    return session.access


def allowed(access: Access, need: str) -> bool:
    return access.may_read if need == READ else access.may_precheck


def _ip() -> str | None:
    import streamlit as st

    try:
        return client_ip({k.lower(): v for k, v in st.context.headers.items()}, st.context.ip_address)
    except Exception:
        return None


def record(event: str, **fields) -> None:
    """An audit event of the current user, from a page."""
    audit.record(event, current_user().username, ip=_ip(), **fields)


def current_page() -> str | None:
    import streamlit as st

    return st.session_state.get("_plan_metrics_page")


def page(fn: Callable[[], None], need: str, *, title: str, url_path: str, icon: str | None = None, default=False):
    """`st.Page` of `fn` for the users whose roles allow `need` (READ or PRECHECK): hidden from
    the others, and refused (with an audit event) when they open its URL anyway. Records a
    `view` each time a user comes to the page."""
    import streamlit as st

    user = current_user()

    @functools.wraps(fn)
    def run() -> None:
        first_view = st.session_state.get("_plan_metrics_page") != url_path
        st.session_state["_plan_metrics_page"] = url_path
        if not allowed(user, need):
            if first_view:
                record("refused", page=url_path)
            st.error(
                _t("无权访问此页面：您的角色不包括它。", "You may not open this page: your roles do not include it."),
                icon=":material/block:",
            )
            return
        if first_view:
            record("view", page=url_path)
        fn()

    return st.Page(
        run,
        title=title,
        url_path=url_path,
        icon=icon,
        default=default,
        visibility="visible" if allowed(user, need) else "hidden",
    )


def audited(make: Callable[[], bytes], table: str, fmt: str) -> Callable[[], bytes]:
    """A download's data callable that records who downloaded which table when it runs (on the
    click); the user and page are taken now, while the page runs."""
    user, page_name, ip = current_user().username, current_page(), _ip()

    def run() -> bytes:
        audit.record("download", user, page=page_name, table=table, format=fmt, ip=ip)
        return make()

    return run


def require_counties(codes: Iterable[str], page_name: str = "precheck") -> bool:
    """For a pre-check: True when the user may pre-check every county in `codes`; otherwise shows
    which are refused, records `precheck_refused` and returns False."""
    import streamlit as st

    user = current_user()
    refused = user.refused_counties(codes)
    if not refused:
        return True
    record("precheck_refused", page=page_name, county=",".join(refused))
    st.error(
        _t(
            f"无权为以下县（市、区）预检：{', '.join(refused)}。您负责的县（市、区）：{', '.join(user.counties) or '无'}。",
            f"You may not pre-check files of {', '.join(refused)}; yours: {', '.join(user.counties) or 'none'}.",
        ),
        icon=":material/block:",
    )
    return False


def sidebar(user: Access) -> None:
    """Who is logged in, and the way out (or that the local demo is open)."""
    import streamlit as st

    with st.sidebar.container(key="who"):
        if not settings().enabled:
            st.caption(_t("本机演示：无需登录，仅本机可访问。", "Local demo: no login, this machine only."))
            return
        roles = ", ".join(r for r in user.roles if not r.startswith("county-"))
        counties = f" · {_t('县', 'counties')} {', '.join(user.counties)}" if user.counties else ""
        st.caption(f"{user.username} · {roles}{counties}")
        st.link_button(_t("退出登录", "Log out"), "/logout", icon=":material/logout:")
