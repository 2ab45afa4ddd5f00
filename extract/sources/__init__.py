"""The source registry: everything the pipeline knows about each source, in one place.

One `Source` record per source system (shared/design/sources.md): its contract code
(S1–S5), kind (an HTTP API behind an Airflow connection, or a spreadsheet drop folder),
cadence, how old its newest record may be, its endpoints or file tables, and its personal
fields. The extract DAGs, the raw Assets, the gate's coverage and freshness checks,
`.env.example`'s connection list, `make pipeline`'s DAG order and dbt's union models (through
its copy of the registry, written by `dbt_files.py` beside this file) are all derived from
`SOURCES`; adding a source is one entry here plus its own dbt models, which `python -m
extract.sources scaffold NAME` starts (`__main__.py`; docs/add-a-source.md).

For every HTTP endpoint: its path, pagination style, key, the fields the contract names
(with the raw column type they land as), the required ones, and personal-data fields that
are dropped before anything is written. For every drop-folder table: its key and fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from extract import spreadsheets


@dataclass(frozen=True)
class Endpoint:
    source: str  # Airflow connection id of the source system
    name: str  # endpoint name, also the raw table's name
    path: str
    pagination: str  # "cursor" | "offset"
    since_param: str
    key: tuple[str, ...]
    fields: dict[str, str]  # contract field -> DuckDB type in the raw layer
    required: tuple[str, ...]
    personal: tuple[str, ...] = ()
    name_zh: str = ""  # what readers call it (the quality and reporting pages)
    name_en: str = ""
    # Its staging rules' model is int_<entity>_checked (intermediate/quality), which
    # int_quarantined_records lists; `checked=False` for a table no rule reads record by record.
    entity: str = ""  # default: the table's name
    checked: bool = True

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.name}"

    @property
    def checked_model(self) -> str | None:
        return f"int_{self.entity or self.name}_checked" if self.checked else None


@dataclass(frozen=True)
class FileTable:
    """A raw table loaded from files in the drop folder (PLAN_METRICS_INCOMING_DIR).

    Every row also carries the file lineage columns FILE_LINEAGE; the file received last
    (the landing run, then `_file_received_seq` within it — never the sender's mtime) wins
    per `key` in staging.
    """

    source: str
    name: str
    key: tuple[str, ...]
    fields: dict[str, str]
    name_zh: str = ""  # what readers call it (the quality and reporting pages)
    name_en: str = ""
    entity: str = ""  # as Endpoint's
    checked: bool = True

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.name}"

    @property
    def checked_model(self) -> str | None:
        return f"int_{self.entity or self.name}_checked" if self.checked else None


@dataclass(frozen=True)
class Cadence:
    """When a source's extract DAG runs (cron, Beijing time) and how long one run may take.

    A run that outlives `dagrun_timeout` is failed rather than allowed to hold up the next
    ones (max_active_runs=1 queues them behind it).
    """

    cron: str
    dagrun_timeout: timedelta
    period: timedelta  # the time between two runs: what a change waits at worst for the next one


# - Orders (S3) change all day and feed the service-order dashboards: hourly.
# - The other APIs (S1, S2) are updated in office batches: daily at 02:00, after the
#   sources' nightly jobs.
# - Drop folders (S4, S5) are polled every 15 minutes by a cheap listing of the folder; the
#   load emits the raw Asset only when a new or changed file was loaded, so a quiet folder
#   costs one short run and never a transform (why not an AssetWatcher: see
#   dags/plan_dag_lib/schedules.py).
HOURLY = Cadence("0 * * * *", timedelta(minutes=55), timedelta(hours=1))
DAILY = Cadence("0 2 * * *", timedelta(hours=6), timedelta(days=1))
DROP_FOLDER = Cadence("*/15 * * * *", timedelta(minutes=30), timedelta(minutes=15))


@dataclass(frozen=True)
class Source:
    """One source system. `name` is its Airflow connection id (HTTP) or its folder under the
    drop folder (files), and the prefix of its raw tables (`raw.<name>__<table>`)."""

    name: str
    code: str  # the contract's code, S1…S5
    title: str  # what it is, Chinese first (DAG docs, README)
    kind: Literal["http", "files"]
    cadence: Cadence
    freshness_hours: float  # how old its newest record may be at the end of a run's interval
    measures: tuple[str, ...]  # the plan measures it feeds (DAG tags)
    endpoints: tuple[Endpoint, ...] = ()  # kind "http"
    tables: tuple[FileTable, ...] = ()  # kind "files"
    parser: Callable | None = None  # kind "files": (path, bytes) -> spreadsheets.Parsed
    personal: tuple[str, ...] = ()  # personal-data fields or column headers, never landed
    # Which catalog metrics must be published once the source delivers (the gate's coverage
    # check): "source" — all of the source's metrics as soon as any raw table has a row;
    # "metric" — only the metrics its rows name (column metric_id) with a value above zero
    # (the S5 ledger is one table for many metrics).
    coverage: Literal["source", "metric"] = "source"
    # Its dbt models of metric events (intermediate/metrics; metric_id, region_code,
    # period_month, value, entity_id), which int_metric_events unions.
    metric_events: tuple[str, ...] = ()
    about: str = ""  # a paragraph for the extract DAG's docs
    # what readers call it (published in metrics.source_names; the dashboard's pages); a source
    # without one is shown by its title
    name_zh: str = ""
    name_en: str = ""

    @property
    def raw_tables(self) -> tuple[str, ...]:
        return tuple(t.raw_table for t in (*self.endpoints, *self.tables))

    @property
    def conn_env(self) -> str:
        """The environment variable that can hold its Airflow connection."""
        return f"AIRFLOW_CONN_{self.name.upper()}"


# --- S3: order service platform (cursor pagination) ------------------------------------
ORDERS = Endpoint(
    name_zh="服务订单",
    name_en="orders",
    source="kechuang_orders",
    name="orders",
    path="/v1/orders",
    pagination="cursor",
    since_param="updated_since",
    key=("order_id",),
    fields={
        "order_id": "varchar",
        "enterprise_id": "varchar",
        "enterprise_name": "varchar",
        "enterprise_size": "varchar",
        "county_code": "varchar",
        "industry": "varchar",
        "demand_type": "varchar",
        "placed_at": "varchar",
        "status": "varchar",
        "service_team_id": "varchar",
        "accepted_at": "varchar",
        "resolved_at": "varchar",
        "cast_paid_cny": "varchar",
        "tech_transaction_cny": "varchar",
        "satisfaction": "bigint",
        "updated_at": "varchar",
    },
    required=("order_id", "enterprise_size", "county_code", "placed_at", "status", "updated_at"),
    personal=("contact_phone",),
)

SERVICE_TEAMS = Endpoint(
    name_zh="服务团",
    name_en="service teams",
    source="kechuang_orders",
    name="service_teams",
    path="/v1/service-teams",
    checked=False,
    pagination="cursor",
    since_param="updated_since",
    key=("team_id",),
    fields={
        "team_id": "varchar",
        "team_name": "varchar",
        "lead_society": "varchar",
        "member_count": "bigint",
        "updated_at": "varchar",
    },
    required=("team_id", "updated_at"),
)

# --- S1: science popularisation platform (offset pagination) ---------------------------
EXHIBITION_STOPS = Endpoint(
    name_zh="流动科技馆巡展站点",
    name_en="mobile museum stops",
    source="scipop_platform",
    name="exhibition_stops",
    path="/api/v1/exhibition-stops",
    pagination="offset",
    since_param="modified_after",
    key=("stop_id",),
    fields={
        "stop_id": "varchar",
        "museum_set_id": "varchar",
        "theme": "varchar",
        "host_county_code": "varchar",
        "venue_name": "varchar",
        "start_date": "varchar",
        "end_date": "varchar",
        "status": "varchar",
        "updated_at": "varchar",
    },
    required=("stop_id", "host_county_code", "start_date", "end_date", "status", "updated_at"),
)

STOP_VISITS = Endpoint(
    name_zh="巡展站点每日观众",
    name_en="stop visits",
    source="scipop_platform",
    name="stop_visits",
    path="/api/v1/stop-visits",
    pagination="offset",
    since_param="modified_after",
    key=("stop_id", "visit_date"),
    fields={
        "stop_id": "varchar",
        "visit_date": "varchar",
        "visitors": "bigint",
        "student_visitors": "bigint",
        "updated_at": "varchar",
    },
    required=("stop_id", "visit_date", "visitors", "updated_at"),
)

RURAL_CENTRES = Endpoint(
    name_zh="农村中学科技馆名录",
    name_en="rural centre registry",
    source="scipop_platform",
    name="rural_centres",
    path="/api/v1/rural-centres",
    checked=False,
    pagination="offset",
    since_param="modified_after",
    key=("centre_id",),
    fields={
        "centre_id": "varchar",
        "school_code": "varchar",
        "school_name": "varchar",
        "county_code": "varchar",
        "opened_on": "varchar",
        "status": "varchar",
        "updated_at": "varchar",
    },
    required=("centre_id", "county_code", "opened_on", "status", "updated_at"),
)

# --- S2: Sci-Tech China roadshows (cursor pagination) ----------------------------------
ROADSHOWS = Endpoint(
    name_zh="技术路演",
    name_en="roadshows",
    source="kechuang_roadshows",
    name="roadshows",
    path="/v1/roadshows",
    pagination="cursor",
    since_param="updated_since",
    key=("roadshow_id",),
    fields={
        "roadshow_id": "varchar",
        "hub_city_code": "varchar",
        "zone": "varchar",
        "held_on": "varchar",
        "industry": "varchar",
        "status": "varchar",
        "enterprises_attending": "bigint",
        "updated_at": "varchar",
    },
    required=("roadshow_id", "hub_city_code", "held_on", "status", "updated_at"),
)

ROADSHOW_PROJECTS = Endpoint(
    name_zh="路演项目",
    name_en="roadshow projects",
    source="kechuang_roadshows",
    name="roadshow_projects",
    path="/v1/roadshow-projects",
    pagination="cursor",
    since_param="updated_since",
    key=("project_id",),
    fields={
        "project_id": "varchar",
        "roadshow_id": "varchar",
        "title": "varchar",
        "tech_field": "varchar",
        "source_org": "varchar",
        "intent_agreements": "bigint",
        "signed_contracts": "bigint",
        "contract_amount_cny": "varchar",
        "talents_introduced": "bigint",
        "updated_at": "varchar",
    },
    required=("project_id", "roadshow_id", "updated_at"),
)


# --- S4, S5: spreadsheet drop folders ---------------------------------------------------
FILE_LINEAGE = {
    "_file_path": "varchar",  # path relative to the drop folder, shown safely (extract/redact.py)
    "_file_sha256": "varchar",  # a changed file is a new version
    "_file_mtime": "timestamptz",  # the sender's modification time: shown, never used to order
    "_sheet": "varchar",
    "_row_number": "bigint",  # 1-based row in the sheet/CSV as a person sees it
    "_file_received_seq": "bigint",  # the order the run received its files in (extract/drops.py)
}

# What the load adds to every record of an HTTP endpoint: the fields outside the contract, the
# record's content hash (a version is a changed hash) and the order it was read in.
BOOK_COLUMNS = {"_extra": "json", "_record_hash": "varchar", "_seq": "bigint"}


def raw_columns(spec: Endpoint | FileTable) -> dict[str, str]:
    """The raw table's contract columns and types (the loader adds _manifest_id, _landed_at, _loaded_at)."""
    if isinstance(spec, Endpoint):
        return {**spec.fields, **BOOK_COLUMNS}
    return {**spec.fields, **FILE_LINEAGE}


RURAL_CENTRE_REPORTS = FileTable(
    name_zh="月报",
    name_en="monthly reports",
    source="rural_centre_reports",
    name="reports",
    entity="rural_centre_reports",
    key=("centre_id", "report_month"),
    fields={
        "centre_id": "varchar",  # 科技馆编号 (学校名称 is free text and not read)
        "county_code": "varchar",  # 所属县区, resolved to a 6-digit code (names mapped)
        "report_month": "date",  # 报告月份, first day of the month
        "days_open": "bigint",  # 开放天数
        "student_visits": "bigint",  # 接待学生人次
        "public_visits": "bigint",  # 接待公众人次
        "activities": "bigint",  # 开展科普活动次数
        "equipment_ok_ratio": "double",  # 设备完好率 in 0..1
    },
)

LEDGER_ACTIVITIES = FileTable(
    name_zh="台账",
    name_en="ledger activities",
    source="plan_ledger",
    name="activities",
    entity="ledger_activities",
    key=("metric_id", "region_code", "activity_date"),
    fields={
        "measure_code": "varchar",  # 措施编号 normalised to M03..M09
        "metric_id": "varchar",  # 指标代码
        "region_code": "varchar",  # 地区代码
        "activity_date": "date",  # 日期
        "value": "double",  # 数值 (说明 is free text and not read)
    },
)

LEDGER_TARGETS = FileTable(
    name_zh="目标",
    name_en="targets",
    source="plan_ledger",
    name="targets",
    checked=False,
    key=("metric_id", "region_code"),
    fields={
        "metric_id": "varchar",  # 指标代码
        "region_code": "varchar",  # 地区代码
        "target_value": "double",  # 目标值
        "deadline": "date",  # 截止日期
    },
)

# --- the registry ------------------------------------------------------------------------
_REGISTRY = (
    Source(
        name="scipop_platform",
        name_zh="科普服务平台",
        name_en="science popularisation platform",
        code="S1",
        title="科普服务平台 science popularisation platform (China Science and Technology Museum)",
        kind="http",
        cadence=DAILY,
        freshness_hours=72,
        measures=("M06",),
        endpoints=(EXHIBITION_STOPS, STOP_VISITS, RURAL_CENTRES),
        metric_events=("int_mobile_museum_metric_events",),
        about=(
            "Mobile-museum exhibition stops and their daily visits, and the registry of rural "
            "middle-school science centres that the S4 monthly reports are checked against. "
            "The API pages by offset over a list that changes while it is read (see "
            "`extract/api.py` for how no row is lost)."
        ),
    ),
    Source(
        name="kechuang_roadshows",
        name_zh="科创中国技术路演",
        name_en="Sci-Tech China roadshows",
        code="S2",
        title="科创中国 技术路演 Sci-Tech China hub-city roadshows",
        kind="http",
        cadence=DAILY,
        freshness_hours=72,
        measures=("M01",),
        endpoints=(ROADSHOWS, ROADSHOW_PROJECTS),
        metric_events=("int_roadshow_metric_events",),
        about="Roadshows held in the hub cities and the projects pitched at them (cursor pagination).",
    ),
    Source(
        name="kechuang_orders",
        name_zh="复工复产达产订单服务",
        name_en="order service platform",
        code="S3",
        title="复工复产达产订单服务 order service platform",
        kind="http",
        cadence=HOURLY,
        freshness_hours=72,
        measures=("M02",),
        endpoints=(ORDERS, SERVICE_TEAMS),
        metric_events=("int_order_metric_events",),
        about=(
            "Orders placed by Hubei enterprises and taken by S&T service teams (湖北点单、"
            "服务团接单、中国科协买单), and the service teams (cursor pagination). Runs hourly."
        ),
    ),
    Source(
        name="rural_centre_reports",
        name_zh="农村中学科技馆月报",
        name_en="rural centre monthly reports",
        code="S4",
        title="农村中学科技馆运行月报 rural science centre monthly reports",
        kind="files",
        cadence=DROP_FOLDER,
        # a month's reports are due in the following month
        freshness_hours=45 * 24,
        measures=("M06",),
        tables=(RURAL_CENTRE_REPORTS,),
        metric_events=("int_rural_centre_metric_events",),
        parser=spreadsheets.parse_report_file,
        personal=("填报人", "联系电话"),
        about=(
            "Spreadsheets (xlsx, xls, csv) schools upload into `<incoming>/rural_centre_reports/"
            "<YYYY-MM>/`, in every messy form `sources.md` lists. Reports of centres the S1 "
            "registry does not hold are quarantined by dbt (any DAG order gives the same result)."
        ),
    ),
    Source(
        name="plan_ledger",
        name_zh="一揽子计划实施台账",
        name_en="plan activity ledger",
        code="S5",
        title="一揽子计划实施台账 plan activity ledger (Hubei CAST)",
        kind="files",
        cadence=DROP_FOLDER,
        freshness_hours=45 * 24,
        measures=("M03", "M04", "M05", "M06", "M07", "M08", "M09"),
        tables=(LEDGER_ACTIVITIES, LEDGER_TARGETS),
        metric_events=("int_ledger_metric_events",),
        parser=spreadsheets.parse_ledger_file,
        coverage="metric",
        about=(
            "The workbook Hubei CAST keeps in `<incoming>/plan_ledger/`: sheet 台账 (activities of "
            "M03–M09) and 目标 (the plan's targets). A newer workbook replaces an older one's rows "
            "for the same (指标代码, 地区代码, 日期)."
        ),
    ),
)
SOURCES: dict[str, Source] = {s.name: s for s in _REGISTRY}


def http_sources() -> list[Source]:
    return [s for s in SOURCES.values() if s.kind == "http"]


def file_sources() -> list[Source]:
    return [s for s in SOURCES.values() if s.kind == "files"]


def all_endpoints() -> list[Endpoint]:
    return [ep for s in http_sources() for ep in s.endpoints]


def all_file_tables() -> list[FileTable]:
    return [t for s in file_sources() for t in s.tables]


WHOLE_FILE = "_file"  # the dataset of a drop file refused whole (meta.quarantine, quarantine_summary)


def dataset_names() -> list[tuple[str, str, str, str, str, str, str]]:
    """(source, dataset, source code, source name zh/en, dataset name zh/en) of every source's
    endpoints and file tables, and of a drop source's whole files: metrics.source_names."""
    out = []
    for s in SOURCES.values():
        datasets = [(d.name, d.name_zh, d.name_en) for d in (*s.endpoints, *s.tables)]
        if s.kind == "files":
            datasets.append((WHOLE_FILE, "整个文件", "whole file"))
        zh_source, en_source = s.name_zh or s.title, s.name_en or s.title
        out += [(s.name, name, s.code, zh_source, en_source, zh or name, en or name) for name, zh, en in datasets]
    return out


def env_example() -> str:
    """The source connections block of `.env.example` (tests/extract keeps the file equal to it)."""
    lines = ["# Source systems (sources.md): Airflow connections as JSON; the password is the bearer token."]
    for s in http_sources():
        host = f"{s.name.replace('_', '-')}.example.org"
        lines.append(
            f'{s.conn_env}={{"conn_type": "http", "host": "{host}", "schema": "https", "password": "<token>"}}'
        )
    return "\n".join(lines) + "\n"
