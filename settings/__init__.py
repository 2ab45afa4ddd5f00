"""The pipeline's settings: read from the environment once, at the edge, then passed down.

`Settings.from_env()` is called where a process starts doing the pipeline's work — an Airflow
task, a CLI's `main`, a benchmark's driver, a test's fixture — and the frozen object it
returns is handed to what it calls. This is the only module that reads (or builds) a process
environment: nothing below an edge looks at `os.environ` (tests/test_structure.py), dbt gets
its values as `--vars` (`dbt_vars`), and a child process gets its environment from
`child_env`. The repository root, the data folders and every file the pipeline keeps in them
are derived here.

Each `PLAN_METRICS_*` variable, with its default when unset or empty:
  DATA_DIR (<repo>/data), INCOMING_DIR (<repo>/incoming), DUCKDB_MEMORY_LIMIT (4GB),
  READERS_GROUP (none: published/ keeps the pipeline's group), AS_OF (none: the run's data
  interval end), FAILPOINT / FAILPOINT_FILE (crash tests), HTTP_MAX_BODY_MB (64),
  ORIGINALS_RETENTION_DAYS (90), REPORT_DEADLINE_DAY (5), DROP_QUIET_SECONDS (60),
  UPLOAD_MAX_BYTES (16 MiB), PARSE_MEMORY_MB (512), PARSE_CPU_SECONDS (30),
  PARSE_WALL_SECONDS (60), PARSE_WORKERS (2), DEMO_ROOT (<repo>/data/demo); the dashboard's
  DASHBOARD_AUTH, DASHBOARD_SESSION_SECRET, DASHBOARD_SESSION_HOURS (8), DASHBOARD_AUDIT_LOG;
  the login lockout's LOGIN_MAX_FAILURES (3) and LOGIN_LOCK_MINUTES (30).
OpenLineage's own standard variables are read here too (warehouse/lineage.py sends the events):
  OPENLINEAGE_URL (none: events go to files under $PLAN_METRICS_DATA_DIR/lineage/; set, they are
  POSTed there: Marquez, DataHub, OpenMetadata), OPENLINEAGE_ENDPOINT (api/v1/lineage),
  OPENLINEAGE_API_KEY (none: no Authorization header), OPENLINEAGE_NAMESPACE (plan_metrics).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEMORY_ENV = "PLAN_METRICS_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"


def _get(env: Mapping[str, str], name: str, default=None):
    """A variable's value, or `default` when it is unset or empty (an empty value in a
    compose file or an env file means "not set")."""
    value = env.get(name)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    incoming_dir: Path
    repo: Path = REPO
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT
    readers_group: str | None = None
    as_of: str | None = None
    failpoint: str | None = None
    failpoint_file: Path | None = None
    http_max_body_mb: float = 64.0
    originals_retention_days: float = 90.0
    report_deadline_day: int = 5
    drop_quiet_seconds: float = 60.0
    upload_max_bytes: int = 16 * 1024 * 1024
    parse_memory_mb: int = 512
    parse_cpu_seconds: int = 30
    parse_wall_seconds: float = 60.0
    parse_workers: int = 2
    demo_root: Path = REPO / "data" / "demo"
    dashboard_auth: str | None = None
    dashboard_session_secret: str = field(default="", repr=False)
    dashboard_session_hours: float = 8.0
    dashboard_audit_log: str | None = None
    login_max_failures: int = 3
    login_lock_minutes: float = 30.0
    openlineage_url: str | None = None
    openlineage_endpoint: str | None = None
    openlineage_api_key: str | None = field(default=None, repr=False)
    openlineage_namespace: str = "plan_metrics"
    # the environment these were read from: only for `child_env` and `variable`
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process (or of the mapping given, e.g. a child's environment)."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(_get(env, "PLAN_METRICS_DATA_DIR", REPO / "data")).resolve()
        failpoint_file = _get(env, "PLAN_METRICS_FAILPOINT_FILE")
        auth = (_get(env, "PLAN_METRICS_DASHBOARD_AUTH", "")).strip().rstrip("/") or None
        return cls(
            data_dir=data_dir,
            incoming_dir=Path(_get(env, "PLAN_METRICS_INCOMING_DIR", REPO / "incoming")).resolve(),
            duckdb_memory_limit=_get(env, MEMORY_ENV, DEFAULT_MEMORY_LIMIT),
            readers_group=_get(env, "PLAN_METRICS_READERS_GROUP"),
            as_of=_get(env, "PLAN_METRICS_AS_OF"),
            failpoint=_get(env, "PLAN_METRICS_FAILPOINT"),
            failpoint_file=Path(failpoint_file) if failpoint_file else None,
            http_max_body_mb=float(_get(env, "PLAN_METRICS_HTTP_MAX_BODY_MB", 64)),
            originals_retention_days=float(_get(env, "PLAN_METRICS_ORIGINALS_RETENTION_DAYS", 90)),
            report_deadline_day=int(_get(env, "PLAN_METRICS_REPORT_DEADLINE_DAY", 5)),
            drop_quiet_seconds=float(_get(env, "PLAN_METRICS_DROP_QUIET_SECONDS", 60)),
            upload_max_bytes=int(_get(env, "PLAN_METRICS_UPLOAD_MAX_BYTES", 16 * 1024 * 1024)),
            parse_memory_mb=int(_get(env, "PLAN_METRICS_PARSE_MEMORY_MB", 512)),
            parse_cpu_seconds=int(_get(env, "PLAN_METRICS_PARSE_CPU_SECONDS", 30)),
            parse_wall_seconds=float(_get(env, "PLAN_METRICS_PARSE_WALL_SECONDS", 60)),
            parse_workers=max(1, int(_get(env, "PLAN_METRICS_PARSE_WORKERS", 2))),
            demo_root=Path(_get(env, "PLAN_METRICS_DEMO_ROOT", REPO / "data" / "demo")).resolve(),
            dashboard_auth=auth,
            dashboard_session_secret=_get(env, "PLAN_METRICS_DASHBOARD_SESSION_SECRET", ""),
            dashboard_session_hours=float(_get(env, "PLAN_METRICS_DASHBOARD_SESSION_HOURS", 8)),
            dashboard_audit_log=_get(env, "PLAN_METRICS_DASHBOARD_AUDIT_LOG"),
            login_max_failures=int(_get(env, "PLAN_METRICS_LOGIN_MAX_FAILURES", 3)),
            login_lock_minutes=float(_get(env, "PLAN_METRICS_LOGIN_LOCK_MINUTES", 30)),
            openlineage_url=_get(env, "OPENLINEAGE_URL"),
            openlineage_endpoint=_get(env, "OPENLINEAGE_ENDPOINT"),
            openlineage_api_key=_get(env, "OPENLINEAGE_API_KEY"),
            openlineage_namespace=_get(env, "OPENLINEAGE_NAMESPACE", "plan_metrics"),
            environment=env,
        )

    def with_data_dir(self, data_dir: Path | str) -> Settings:
        """The same settings on another data folder (a test's, a benchmark's)."""
        return replace(self, data_dir=Path(data_dir).resolve())

    # ------------------------------------------------------------------ where things live
    @property
    def landing_root(self) -> Path:
        return self.data_dir / "landing"

    @property
    def working_db(self) -> Path:
        """The pipeline's own database: raw, staging, marts, meta. Readers never open it."""
        return self.data_dir / "warehouse" / "plan_metrics_work.duckdb"

    @property
    def published_dir(self) -> Path:
        return self.data_dir / "published"

    @property
    def published_db(self) -> Path:
        """What analysts and dashboards open, read-only."""
        return self.published_dir / "plan_metrics.duckdb"

    @property
    def dbt_project_dir(self) -> Path:
        return self.repo / "dbt_project"

    @property
    def dbt_dir(self) -> Path:
        """dbt's target, logs and the state of the last complete build."""
        return self.data_dir / "dbt"

    @property
    def duckdb_temp_dir(self) -> Path:
        """Where the pipeline's DuckDB connections spill (settings/duck.py)."""
        return self.data_dir / "tmp" / "duckdb"

    @property
    def quality_dir(self) -> Path:
        return self.data_dir / "quality"

    @property
    def lineage_dir(self) -> Path:
        """Where OpenLineage events go when no OPENLINEAGE_URL names a lineage backend."""
        return self.data_dir / "lineage"

    def openlineage_transport(self) -> dict:
        """OpenLineage's transport config: HTTP to OPENLINEAGE_URL when set, else one JSON line
        per event appended to `lineage_dir/events.jsonl` (a catalog can import the file later)."""
        if self.openlineage_url:
            config: dict = {"type": "http", "url": self.openlineage_url}
            if self.openlineage_endpoint:
                config["endpoint"] = self.openlineage_endpoint
            if self.openlineage_api_key:
                config["auth"] = {"type": "api_key", "apiKey": self.openlineage_api_key}
            return config
        return {"type": "file", "log_file_path": str(self.lineage_dir / "events.jsonl"), "append": True}

    @property
    def dags_dir(self) -> Path:
        return self.repo / "dags"

    # ----------------------------------------------------------------- what others are given
    def dbt_vars(self, working_db: Path | None = None) -> dict[str, str | int]:
        """What dbt's profile and project read (`--vars`), instead of the process environment."""
        return {
            "working_db": str(working_db or self.working_db),
            # the profile's `published` target (readers': the semantic layer, warehouse/semantic.py)
            "published_db": str(self.published_db),
            "duckdb_memory_limit": self.duckdb_memory_limit,
            "report_deadline_day": self.report_deadline_day,
        }

    def child_env(
        self,
        overrides: Mapping[str, str] | None = None,
        *,
        without: Iterable[str] = (),
        only: Iterable[str] | None = None,
    ) -> dict[str, str]:
        """The environment for a child process: this process's (only the names in `only`
        when given), minus the variables whose names start with a prefix in `without`, plus
        `overrides`."""
        prefixes, keep = tuple(without), None if only is None else set(only)
        env = {
            k: v
            for k, v in self.environment.items()
            if (keep is None or k in keep) and not (prefixes and k.startswith(prefixes))
        }
        return {**env, **(overrides or {})}

    def variable(self, name: str, default: str | None = None) -> str | None:
        """A variable that is not the pipeline's own, as the edge's environment held it (the
        demo scripts' SIM_*, Airflow's, a secret a check must look at)."""
        return _get(self.environment, name, default)


def child_env(
    overrides: Mapping[str, str] | None = None, *, without: Iterable[str] = (), only: Iterable[str] | None = None
) -> dict[str, str]:
    """`Settings.child_env` of this process as it is now, for code that starts a child and
    holds no settings (the parse workers: only PATH, LANG and the like pass to them)."""
    return Settings.from_env().child_env(overrides, without=without, only=only)
