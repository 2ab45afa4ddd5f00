"""Every simulated source is one entry of `SOURCES`, and everything else reads it: the server
(one port per HTTP source, in this order: `make run` relies on S3 keeping the first), the
store (the record versions it holds and the code its fingerprint covers), the drop folders,
the faults a source accepts (`parse_specs`) and the truth (`simulator.truth` adds each
source's metric values and quarantined records up).

A new source is one more `SimulatedSource`: its name (as the pipeline's registry
`extract.sources` names it), its code in shared/design/sources.md, the units of the metrics
its truth computes, its truth, and either its HTTP routes with the generators of their
record versions, or the function that writes its drop folder.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path

from simulator import drops, orders, roadshows, scipop, source_truth
from simulator.faults import DROP_FAULTS, OFFSET_ONLY_FAULTS, Faults
from simulator.orders import Version
from simulator.world import WorldConfig

# (cfg, clock, {source name: Faults}, reports a test sent besides the simulator's files)
Truth = Callable[[WorldConfig, int, dict[str, Faults], Collection], dict]


@dataclass(frozen=True)
class SimulatedSource:
    name: str
    code: str  # S1..S5 in shared/design/sources.md; what `truth.metric_values(sources=...)` takes
    units: Mapping[str, str]  # metric_id -> unit of each metric `truth` computes
    truth: Truth
    routes: Mapping[str, str] = field(default_factory=dict)  # HTTP: path -> entity
    versions: tuple[Callable[[WorldConfig], Iterable[Version]], ...] = ()  # HTTP: every record version
    paging: str = "cursor"  # HTTP: "cursor" (updated_since, cursor, limit) or "offset" (page, page_size)
    # HTTP: adds the records a correct pipeline quarantines to {(entity, record_id): violation}
    quarantine: Callable[[WorldConfig, int, dict[str, Faults], dict], None] | None = None
    write_drops: Callable[[WorldConfig, Path, int, dict[str, Faults]], list[str]] | None = None  # a drop folder

    @property
    def is_http(self) -> bool:
        return bool(self.routes)

    def accepts(self, fault: str) -> bool:
        if fault in DROP_FAULTS:
            return not self.is_http
        if fault in OFFSET_ONLY_FAULTS:
            return self.paging == "offset"
        return self.is_http


def _ledger_unit(metric_id: str) -> str:
    return "person_times" if metric_id in ("anxin_aid_person_times", "online_classroom_views") else "count"


SOURCES: tuple[SimulatedSource, ...] = (
    SimulatedSource(
        name="kechuang_orders",
        code="S3",
        routes={"/v1/orders": "orders", "/v1/service-teams": "service_teams"},
        versions=(orders.team_versions, orders.order_versions),
        units={
            "orders_placed": "count",
            "orders_accepted": "count",
            "orders_resolved": "count",
            "orders_acceptance_hours_median": "hours",
            "orders_sme_share": "ratio",
            "orders_cast_paid_cny": "cny",
            "orders_tech_transaction_cny": "cny",
        },
        truth=lambda cfg, clock, faults, _sent: source_truth.order_metrics(cfg, clock, faults.get("kechuang_orders")),
        quarantine=source_truth.order_quarantine,
    ),
    SimulatedSource(
        name="scipop_platform",
        code="S1",
        routes={
            "/api/v1/exhibition-stops": "exhibition_stops",
            "/api/v1/stop-visits": "stop_visits",
            "/api/v1/rural-centres": "rural_centres",
        },
        versions=(scipop.stop_versions, scipop.visit_versions, scipop.centre_versions),
        paging="offset",
        units={
            "mobile_museum_stops_open": "count",
            "mobile_museum_visitors": "person_times",
            "mobile_museum_student_visitors": "person_times",
        },
        truth=lambda cfg, clock, faults, _sent: source_truth.museum_metrics(cfg, clock, faults.get("scipop_platform")),
        quarantine=source_truth.museum_quarantine,
    ),
    SimulatedSource(
        name="kechuang_roadshows",
        code="S2",
        routes={"/v1/roadshows": "roadshows", "/v1/roadshow-projects": "roadshow_projects"},
        versions=(roadshows.roadshow_versions, roadshows.project_versions),
        units={
            "roadshows_held": "count",
            "roadshow_projects_pitched": "count",
            "roadshow_enterprises_reached": "count",
            "roadshow_contracts_signed": "count",
            "roadshow_contract_amount_cny": "cny",
        },
        truth=lambda cfg, clock, faults, _sent: source_truth.roadshow_metrics(
            cfg, clock, faults.get("kechuang_roadshows")
        ),
        quarantine=source_truth.roadshow_quarantine,
    ),
    SimulatedSource(
        name="rural_centre_reports",
        code="S4",
        write_drops=partial(drops.write_drops, source="rural_centre_reports"),
        units={
            "rural_centres_reporting": "count",
            "rural_centre_student_visits": "person_times",
            "rural_centre_public_visits": "person_times",
            "rural_centre_activities": "count",
            "rural_centre_report_rate": "ratio",
        },
        truth=source_truth.rural_report_metrics,
    ),
    SimulatedSource(
        name="plan_ledger",
        code="S5",
        write_drops=partial(drops.write_drops, source="plan_ledger"),
        units={m: _ledger_unit(m) for m in drops.LEDGER_METRICS},
        truth=lambda cfg, clock, faults, _sent: source_truth.ledger_metrics(cfg, clock, faults),
    ),
)


def http_sources() -> list[SimulatedSource]:
    return [s for s in SOURCES if s.is_http]


def drop_sources() -> list[SimulatedSource]:
    return [s for s in SOURCES if not s.is_http]


def all_versions(cfg: WorldConfig) -> Iterator[Version]:
    """Every record version the HTTP sources ever publish (what the store holds)."""
    for source in http_sources():
        for versions in source.versions:
            yield from versions(cfg)


def generator_code() -> bytes:
    """The code of the version generators: a world's store is rebuilt when it changes."""
    modules = dict.fromkeys(sys.modules[v.__module__] for s in http_sources() for v in s.versions)
    return b"".join(Path(m.__file__).read_bytes() for m in modules)


def write_drops(cfg: WorldConfig, incoming: Path, clock: int, faults: dict[str, Faults] | None = None) -> list[str]:
    """Every drop folder's files due at the clock (see `simulator.drops`); the paths written."""
    return [path for s in drop_sources() for path in s.write_drops(cfg, incoming, clock, faults or {})]


def parse_specs(specs: Iterable[str]) -> dict[str, Faults]:
    """`["kechuang_orders:skew=0.02,page_cap=37", "plan_ledger:broken=0.2"]` -> {source: Faults}.

    Fails on an unknown source, a drop fault on an HTTP source (or the reverse) and
    `unordered` on a cursor API, so that a typo does not silently switch nothing on."""
    by_name = {s.name: s for s in SOURCES}
    out: dict[str, Faults] = {}
    for spec in specs:
        name, _, rest = spec.partition(":")
        source = by_name.get(name)
        if source is None:
            raise ValueError(f"unknown source {name!r} in --faults; known: {', '.join(by_name)}")
        f = Faults.parse(rest)
        on = {fl.name for fl in fields(f) if getattr(f, fl.name) != getattr(Faults(), fl.name)}
        refused = sorted(x for x in on if not source.accepts(x))
        if refused and not source.is_http:
            raise ValueError(f"{name} is a drop folder: only {sorted(DROP_FAULTS)} apply, got {sorted(on)}")
        if set(refused) & DROP_FAULTS:
            raise ValueError(f"{name} is an HTTP API: {sorted(on & DROP_FAULTS)} apply to drop folders only")
        if refused:
            raise ValueError(f"{name} pages by cursor: {refused} applies to offset APIs only")
        out[name] = f
    return out
