"""Who may do what, in one place: the FAB roles the deployment uses and what each allows outside
Airflow (the dashboard, /dbt-docs and the pre-check of an upload).

There is one user list, Airflow's (FAB's auth manager, in PostgreSQL): the dashboard asks
Airflow who a user is and which roles they hold, and keeps no accounts of its own.

| role                     | Airflow                              | dashboard and /dbt-docs | pre-check       |
| ------------------------ | ------------------------------------ | ----------------------- | --------------- |
| `Admin`                  | everything                           | read                    | every county    |
| `Op`, `User` (operator)  | DAGs: trigger, clear, mark           | read                    | —               |
| `Viewer`                 | look only                            | read                    | —               |
| `Reporter`               | nothing                              | — (add `Viewer` to read) | its counties   |
| `county-<code>-<name>`   | nothing                              | —                       | names a county  |

A county reporter holds `Reporter` and one `county-…` role per county they report for (e.g.
`county-420106-武昌区`); `deploy/init.sh` creates all of them (one per county of the regions seed)
and an admin assigns them in Security → Users like any other role.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from settings import REPO

DIVISIONS = REPO / "dbt_project" / "seeds" / "hubei_divisions.csv"  # the regions seed (county → name)

ADMIN = "Admin"
READERS = frozenset({"Admin", "Op", "User", "Viewer"})  # "Viewer and above" may read the dashboard
REPORTER = "Reporter"
COUNTY_ROLE = re.compile(r"^county-(\d{6})(?:-|$)")


@cache
def counties() -> dict[str, str]:
    """Every county of the regions seed: code → Chinese name, in the seed's order."""
    with DIVISIONS.open(encoding="utf-8") as fh:
        return {row["county_code"]: row["county_name"] for row in csv.DictReader(fh)}


def county_role(code: str) -> str:
    """The FAB role that assigns county `code` to a reporter."""
    return f"county-{code}-{counties()[code]}"


def county_roles() -> list[str]:
    return [county_role(code) for code in counties()]


@dataclass(frozen=True)
class Access:
    """What one user may do outside Airflow, from their role names."""

    username: str
    roles: tuple[str, ...]

    @property
    def counties(self) -> tuple[str, ...]:
        """The counties this user reports for (from their `county-…` roles)."""
        return tuple(sorted({m[1] for r in self.roles if (m := COUNTY_ROLE.match(r))}))

    @property
    def may_read(self) -> bool:
        return bool(READERS & set(self.roles))

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def may_precheck(self) -> bool:
        return self.is_admin or REPORTER in self.roles

    def may_precheck_county(self, code: str) -> bool:
        return self.is_admin or (REPORTER in self.roles and code in self.counties)

    def refused_counties(self, codes: Iterable[str]) -> list[str]:
        """Which of `codes` this user may not pre-check (empty: all allowed)."""
        return sorted({c for c in codes if not self.may_precheck_county(c)})
