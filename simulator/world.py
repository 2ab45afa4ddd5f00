"""The simulated world's fixed frame: time, regions, seeding and value formatting.

Everything the simulator generates is a pure function of (seed, scale, record number), so
the same seed gives the same bytes and no generator has to hold the whole world in memory.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

BEIJING = timezone(timedelta(hours=8))
# The simulated clock ends with the plan's implementation period.
WORLD_END = datetime(2021, 12, 31, 23, 59, 59, tzinfo=BEIJING)
PLAN_LAUNCH = datetime(2020, 7, 20, tzinfo=BEIJING)

# The public GB/T 2260 reference the repository ships (read as data, not as pipeline code).
REFERENCE_CSV = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds" / "hubei_divisions.csv"
PROVINCE = "420000"


@dataclass(frozen=True)
class County:
    code: str
    name: str
    prefecture_code: str
    prefecture_name: str


@lru_cache(maxsize=1)
def counties() -> tuple[County, ...]:
    with REFERENCE_CSV.open(encoding="utf-8") as fh:
        return tuple(
            County(r["county_code"], r["county_name"], r["prefecture_code"], r["prefecture_name"])
            for r in csv.DictReader(fh)
        )


@lru_cache(maxsize=1)
def county_by_code() -> dict[str, County]:
    return {c.code: c for c in counties()}


@dataclass(frozen=True)
class WorldConfig:
    """What identifies one simulated world."""

    seed: int = 42
    scale: float = 1.0

    def count(self, base: int) -> int:
        """Record count for something that has `base` records at scale factor 1."""
        return max(1, round(base * self.scale))

    def rng(self, *parts: object) -> random.Random:
        # String seeds are hashed with SHA-512 by `random`, so this is stable across runs
        # and Python versions, and independent per record.
        return random.Random("/".join([str(self.seed), f"{self.scale:g}", *map(str, parts)]))


def to_epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def beijing_epoch(d: date, hour: int, minute: int = 0) -> int:
    """Epoch seconds of a Beijing wall-clock time on a date."""
    return to_epoch(datetime(d.year, d.month, d.day, hour, minute, tzinfo=BEIJING))


def bj_iso(epoch: int) -> str:
    """Beijing-time ISO 8601 with offset, as the real systems send it."""
    return datetime.fromtimestamp(epoch, tz=BEIJING).isoformat()


def parse_ts(text: str) -> int:
    """Parse an ISO 8601 timestamp (any offset; naive means Beijing time) to epoch seconds."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=BEIJING)
    return int(dt.timestamp())


def bj_month(epoch: int) -> str:
    """First day of the Beijing-time month of an instant, as YYYY-MM-01."""
    return datetime.fromtimestamp(epoch, tz=BEIJING).strftime("%Y-%m-01")


def money(cents: int) -> str:
    """Money as the APIs send it: a decimal string with two places."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
