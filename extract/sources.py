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

ENDPOINTS: dict[str, tuple[Endpoint, ...]] = {
    "kechuang_orders": (ORDERS, SERVICE_TEAMS),
}


def endpoint(source: str, name: str) -> Endpoint:
    for ep in ENDPOINTS[source]:
        if ep.name == name:
            return ep
    raise KeyError(f"{source} has no endpoint {name!r}")
