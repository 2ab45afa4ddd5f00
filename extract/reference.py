"""Reference data the extractors validate against: GB/T 2260 regions and the metric catalog.

Read from the dbt seeds (one copy of each list in the repository).
"""

from __future__ import annotations

import csv
from functools import lru_cache

from settings import REPO

SEEDS = REPO / "dbt_project" / "seeds"
PROVINCE = "420000"


@lru_cache(maxsize=1)
def divisions() -> list[dict]:
    with (SEEDS / "hubei_divisions.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=1)
def county_codes() -> frozenset[str]:
    return frozenset(d["county_code"] for d in divisions())


@lru_cache(maxsize=1)
def region_codes() -> frozenset[str]:
    """Every code a record may carry: counties, prefectures and the province."""
    return frozenset({PROVINCE} | {d["county_code"] for d in divisions()} | {d["prefecture_code"] for d in divisions()})


@lru_cache(maxsize=1)
def county_names() -> dict[str, str]:
    """County name -> code (names are unique within Hubei)."""
    return {d["county_name"]: d["county_code"] for d in divisions()}


@lru_cache(maxsize=1)
def metrics() -> dict[str, dict]:
    with (SEEDS / "metric_definitions.csv").open(encoding="utf-8") as fh:
        return {r["metric_id"]: r for r in csv.DictReader(fh)}
