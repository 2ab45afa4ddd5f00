"""Accounts and roles in Airflow's one user list (FAB), as `airflow-init` sets them up.

    python -m deploy.accounts init            # deploy/init.sh: the roles of deploy/roles.py and
                                              # the first admin (idempotent)
    python -m deploy.accounts unlock <user>   # end a lockout now (docker compose exec airflow-apiserver …)

`init` creates `Reporter` and one `county-<code>-<name>` role per county (deploy/roles.py), and
the first admin from AIRFLOW_ADMIN_USERNAME / AIRFLOW_ADMIN_PASSWORD (or AIRFLOW_ADMIN_PASSWORD_FILE):
the password is read from the environment or a file, never from a command line, where `ps` and
the shell history would show it. An existing admin is left as it is (re-running init never
resets a changed password). One Python process does it all, through FAB's security manager.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from deploy import env_secrets, roles
from settings import Settings


def _appbuilder():
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    return get_application_builder()


def init(env: Mapping[str, str]) -> list[str]:
    """Create the missing roles and the first admin (named and with the password `env` holds:
    the environment of the init container, from its settings); returns what was created."""
    password = env_secrets.value_of(env, "AIRFLOW_ADMIN_PASSWORD")
    problem = env_secrets.problem(env_secrets.BY_NAME["AIRFLOW_ADMIN_PASSWORD"], password)
    if problem:
        raise SystemExit(f"refusing to create the admin: {problem}")
    admin = env.get("AIRFLOW_ADMIN_USERNAME") or "admin"
    created = []
    with _appbuilder() as appbuilder:
        sm = appbuilder.sm
        for name in (roles.REPORTER, *roles.county_roles()):
            if sm.find_role(name) is None:
                sm.add_role(name)
                created.append(name)
        if sm.find_user(username=admin) is None:
            user = sm.add_user(
                admin, "Plan", "Admin", env.get("AIRFLOW_ADMIN_EMAIL") or f"{admin}@example.org",
                sm.find_role(roles.ADMIN), password,
            )  # fmt: skip
            if not user:
                raise SystemExit(f"could not create the admin {admin!r}")
            created.append(f"user {admin}")
    return created


def unlock(username: str) -> None:
    with _appbuilder() as appbuilder:
        sm = appbuilder.sm
        user = sm.find_user(username=username)
        if user is None:
            raise SystemExit(f"no user {username!r}")
        user.fail_login_count = 0
        sm.update_user(user)


def main(argv: list[str]) -> int:
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded

    if argv == ["init"]:
        created = providers_configuration_loaded(init)(Settings.from_env().environment)
        roles_made = [c for c in created if not c.startswith("user ")]
        users_made = [c for c in created if c.startswith("user ")]
        print(
            f"roles: {len(roles_made)} created ({len(roles.county_roles()) + 1} needed)"
            + (f"; {', '.join(users_made)} created" if users_made else "; the admin exists already")
        )
        return 0
    if len(argv) == 2 and argv[0] == "unlock":
        providers_configuration_loaded(unlock)(argv[1])
        print(f"{argv[1]}: unlocked")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
