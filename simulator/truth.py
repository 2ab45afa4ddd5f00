"""The true value of every metric, computed in plain Python from the generated records:
each source's part is its `truth` in `simulator.sources` (`simulator/source_truth.py`).

This is the independent check on the pipeline: it shares no code with the dbt models and
reads the generators directly (not the served pages, not the files, not the warehouse). It
follows the contract of `shared/design/metrics.md` literally: the latest version of each
record at the clock, cancelled records never count, county rows only where the source
gives a county, the four province-administered units as prefecture rows only, medians and
ratios recomputed per level, province zero-fill for count/person_times/cny metrics.
Records a correct pipeline quarantines are left out: the truth is what a correct pipeline
publishes. With `faults` (the simulator's, {source: Faults}) every record is taken as the
faulty source SERVED its latest version at the clock (`faults.served_body`, the function
the server serves with, so no fault is re-implemented here), and left out when it lacks a
required field (`missing`) or breaks a quarantine rule (`simulator/rules.py`: R1 orders,
R2 stop-visits, R3 exhibition stops with their visits, R4 held roadshows with their
projects; `simulator/drops/plan.py`: R5 rural-centre reports — month, and centre in the S1
registry the pipeline holds —, R6 ledger rows, plus the drop files and rows the `broken`
fault makes unreadable). `quarantined_records` lists the HTTP records left out and why.
The timestamp faults (`ties`, `backwards`, `skew`) change no value: the latest version at
the clock still wins. With all faults off no generated record breaks a rule, so the truth
is the generated world's.

Result: {(metric_id, region_code, period_month 'YYYY-MM-01'): (region_level, value)}.

Choices where the contract leaves room (documented so the pipeline can match them):
- mobile_museum_stops_open: a stop counts in each month that holds a day between its
  start_date and min(end_date, the clock's date); a stop's visits roll up to its
  host_county_code (visits of a quarantined stop are dropped with it).
- rural reports roll up to the county of the report row (always the registry's county);
  rural_centre_report_rate's denominator is the registry's latest version at the clock,
  and its numerator counts the reporting centres among those (a centre suspended or
  closed since it last reported would otherwise push the rate above 1).
- ledger rows roll up from the region they are coded with (a prefecture-coded row has no
  county row, a 420000 row only a province row).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from simulator import rules
from simulator import sources as simulated
from simulator.faults import Faults
from simulator.source_truth import PROVINCE_ADMINISTERED, latest_served, months_between, region_keys, registry_at
from simulator.world import PROVINCE, WorldConfig

__all__ = [
    "ADDITIVE_UNITS",
    "ALL_SOURCES",
    "DEFAULT_SOURCES",
    "PROVINCE_ADMINISTERED",
    "UNITS",
    "latest_served",
    "metric_values",
    "quarantined_records",
    "region_keys",
    "registry_at",
    "units",
]


def units() -> dict[str, str]:
    """{metric_id: unit} of every registered source's metrics."""
    return {metric_id: unit for source in simulated.SOURCES for metric_id, unit in source.units.items()}


UNITS = units()
ADDITIVE_UNITS = {"count", "person_times", "cny"}
ALL_SOURCES = tuple(sorted(source.code for source in simulated.SOURCES))
HTTP_SOURCES = tuple(sorted(source.code for source in simulated.SOURCES if source.quarantine))
# The walking skeleton's pipeline reads S3 only; callers whose pipeline reads more pass
# `sources=ALL_SOURCES` (the CLI prints every source by default).
DEFAULT_SOURCES = ("S3",)


def _zero_fill_province(values: dict) -> None:
    unit = units()
    by_metric = defaultdict(list)
    for metric_id, region, month in values:
        if region == PROVINCE:
            by_metric[metric_id].append(month)
    for metric_id, months in by_metric.items():
        if unit[metric_id] not in ADDITIVE_UNITS:
            continue
        for month in months_between(min(months), max(months)):
            values.setdefault((metric_id, PROVINCE, month), ("province", 0.0))


def quarantined_records(
    cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None, sources: Collection[str] = HTTP_SOURCES
) -> dict[tuple[str, str], rules.Violation]:
    """{(entity, record_id): (column, value, category)} of every HTTP record a correct
    pipeline quarantines at the clock (the latest version decides): a required field
    missing (`missing_field`), R1–R4, and the visits / projects left out with their
    quarantined stop / roadshow (`stop_quarantined` / `roadshow_quarantined`). The S4/S5
    rows and files are in `drops.drop_plan`."""
    out: dict = {}
    for source in simulated.SOURCES:
        if source.quarantine and source.code in sources:
            source.quarantine(cfg, clock, faults or {}, out)
    return out


def metric_values(
    cfg: WorldConfig,
    clock: int,
    sources: Collection[str] = DEFAULT_SOURCES,
    faults: dict[str, Faults] | None = None,
    extra_reports: Collection = (),
) -> dict:
    """True metric values at a clock, for the given sources (S1..S5).

    `faults`: the simulator's per-source faults ({source name: Faults}, drop sources
    included); the values are computed from what the faulty sources serve, and what a
    correct pipeline quarantines is left out (see the module docstring). `extra_reports`:
    S4 reports sent besides the simulator's files (rural_report_metrics).
    """
    values: dict = {}
    for source in simulated.SOURCES:
        if source.code in sources:
            values.update(source.truth(cfg, clock, faults or {}, extra_reports))
    _zero_fill_province(values)
    return values
