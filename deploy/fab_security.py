"""FAB's security manager with a lockout, for the api-server (`deploy/webserver_config.py`).

FAB counts consecutive failed logins per user (`ab_user.fail_login_count`, reset by a good
one) but never acts on the count. Here, once a user has failed PLAN_METRICS_LOGIN_MAX_FAILURES
times in a row (3), every login as that user is refused — the right password included — for
PLAN_METRICS_LOGIN_LOCK_MINUTES (30) after the last failure. It holds for every way in, since
all of them end in `auth_user_db`: the UI's login form, `POST /auth/token` (REST clients) and
the dashboard (which checks passwords through `/auth/token`). After the lock a good password
clears the count; one more wrong one locks again. An admin ends a lock at once by resetting
the user's password (Security → Users) or with `python -m deploy.accounts unlock <user>`.

The moment of the lock is kept in the user's `changed_on` (the row changes when it locks).
What happened is logged by the api-server as `plan_metrics.login` lines (user, never the
password): each failure with its count, the lock, each login refused while locked.
"""

from __future__ import annotations

import datetime
import functools
import logging

from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride

from settings import Settings

log = logging.getLogger("plan_metrics.login")


@functools.cache
def _settings() -> Settings:
    """The api-server's settings, read once (FAB loads this module where the server starts)."""
    return Settings.from_env()


def max_failures() -> int:
    return _settings().login_max_failures


def lock_minutes() -> float:
    return _settings().login_lock_minutes


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def locked_until(user) -> datetime.datetime | None:
    """When the lock of `user` ends (naive UTC), or None when it is not locked."""
    if (user.fail_login_count or 0) < max_failures() or user.changed_on is None:
        return None
    changed = user.changed_on
    if changed.tzinfo is not None:
        changed = changed.astimezone(datetime.UTC).replace(tzinfo=None)
    until = changed + datetime.timedelta(minutes=lock_minutes())
    return until if until > _utcnow() else None


class LockoutSecurityManager(FabAirflowSecurityManagerOverride):
    def auth_user_db(self, username, password, rotate_session_id=True):
        user = None
        if username:
            user = self.find_user(username=username) or self.find_user(email=username)
        if user is not None and user.is_active and (until := locked_until(user)):
            from flask import current_app
            from werkzeug.security import check_password_hash

            # as long as a real check, so the answer's timing tells nothing
            check_password_hash(current_app.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"], "password")
            log.warning(
                "login refused: user=%s is locked until %sZ", user.username, until.isoformat(timespec="seconds")
            )
            return None
        result = super().auth_user_db(username, password, rotate_session_id=rotate_session_id)
        if result is None and user is not None and user.is_active:
            failures = user.fail_login_count or 0
            log.warning("login failed: user=%s consecutive_failures=%d", user.username, failures)
            if failures >= max_failures():
                user.changed_on = _utcnow()
                self.update_user(user)
                log.warning(
                    "account locked: user=%s after %d failed logins, for %g minutes",
                    user.username, failures, lock_minutes(),
                )  # fmt: skip
        return result

    def reset_password(self, userid, password) -> bool:
        """An admin's password reset also ends a lockout."""
        done = super().reset_password(userid, password)
        user = self.get_user_by_id(userid)
        if done and user is not None and user.fail_login_count:
            user.fail_login_count = 0
            self.update_user(user)
        return done
