"""What the pipeline knows about each source endpoint (shared/design/sources.md), in one place.

For every endpoint: its path, pagination style, key, the fields the contract names (with
the raw column type they land as), the required ones, and personal-data fields that are
dropped before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.name}"


ORDERS = Endpoint(
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
    source="kechuang_orders",
    name="service_teams",
    path="/v1/service-teams",
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
    source="scipop_platform",
    name="rural_centres",
    path="/api/v1/rural-centres",
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

ENDPOINTS: dict[str, tuple[Endpoint, ...]] = {
    "scipop_platform": (EXHIBITION_STOPS, STOP_VISITS, RURAL_CENTRES),
    "kechuang_roadshows": (ROADSHOWS, ROADSHOW_PROJECTS),
    "kechuang_orders": (ORDERS, SERVICE_TEAMS),
}


# --- S4, S5: spreadsheet drop folders ---------------------------------------------------
@dataclass(frozen=True)
class FileTable:
    """A raw table loaded from files in the drop folder (PLAN_METRICS_INCOMING_DIR).

    Every row also carries the file lineage columns FILE_LINEAGE; the newest file (by
    `_file_mtime`, then `_file_path`) wins per `key` in staging.
    """

    source: str
    name: str
    key: tuple[str, ...]
    fields: dict[str, str]

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.name}"


FILE_LINEAGE = {
    "_file_path": "varchar",  # path relative to the drop folder
    "_file_sha256": "varchar",  # a changed file is a new version
    "_file_mtime": "timestamptz",
    "_sheet": "varchar",
    "_row_number": "bigint",  # 1-based row in the sheet/CSV as a person sees it
}

RURAL_CENTRE_REPORTS = FileTable(
    source="rural_centre_reports",
    name="reports",
    key=("centre_id", "report_month"),
    fields={
        "centre_id": "varchar",  # 科技馆编号
        "school_name": "varchar",  # 学校名称
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
    source="plan_ledger",
    name="activities",
    key=("metric_id", "region_code", "activity_date"),
    fields={
        "measure_code": "varchar",  # 措施编号 normalised to M03..M09
        "metric_id": "varchar",  # 指标代码
        "region_code": "varchar",  # 地区代码
        "activity_date": "date",  # 日期
        "value": "double",  # 数值
        "note": "varchar",  # 说明
    },
)

LEDGER_TARGETS = FileTable(
    source="plan_ledger",
    name="targets",
    key=("metric_id", "region_code"),
    fields={
        "metric_id": "varchar",  # 指标代码
        "region_code": "varchar",  # 地区代码
        "target_value": "double",  # 目标值
        "deadline": "date",  # 截止日期
    },
)

FILE_TABLES = (RURAL_CENTRE_REPORTS, LEDGER_ACTIVITIES, LEDGER_TARGETS)


def endpoint(source: str, name: str) -> Endpoint:
    for ep in ENDPOINTS[source]:
        if ep.name == name:
            return ep
    raise KeyError(f"{source} has no endpoint {name!r}")
