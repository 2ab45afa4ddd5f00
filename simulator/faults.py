"""Faults on demand, per source, all off by default.

Transport faults (`rate_limit`, `server_error`, `drop`, `slow`) are rolled per request.
Record faults are decided per record by a hash of its id, so they are repeatable and a
test can ask which records carry them:

- `missing`: share of records served without one required field (`MISSING_FIELD`); all
  versions of such a record lack it, so a correct pipeline quarantines the whole record
  (see `missing_field`, and `truth.metric_values(..., faults=...)` which leaves them out).
- `drift`: share of records that carry new, undocumented fields (`DRIFT_FIELDS`).
- `ties`: share of records whose served `updated_at` is cut to Beijing midnight (a system
  with date precision), so runs of records share one timestamp across page boundaries.
- `backwards`: share of records whose served `updated_at` is 1 hour to 6 days earlier
  than their place in the (true-time) order (a late write stamped with the client's
  clock), so it goes backwards within and across pages.
  Both stay later than the record's previous version, so "latest version wins" still holds.
- `shift` (offset pagination, S1): probability that, before a page after the first is
  served, a record the client has already paged past is updated (republished at the
  clock): it moves to the end and every later row shifts one place towards the start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from simulator.world import bj_iso

MISSING_FIELD = {
    "orders": "county_code",
    "service_teams": "team_id",
    "exhibition_stops": "host_county_code",
    "stop_visits": "visitors",
    "rural_centres": "county_code",
    "roadshows": "hub_city_code",
    "roadshow_projects": "roadshow_id",
}
DRIFT_FIELDS = {"data_version": 2, "remark": "系统升级后新增字段"}


@dataclass
class Faults:
    """Per-source fault rates (0..1); all off by default."""

    rate_limit: float = 0.0  # 429 with Retry-After
    server_error: float = 0.0  # 500 / 503
    drop: float = 0.0  # connection closed mid-body
    slow: float = 0.0  # response delayed by `slow_seconds`
    slow_seconds: float = 0.5
    missing: float = 0.0
    drift: float = 0.0
    ties: float = 0.0
    backwards: float = 0.0
    shift: float = 0.0

    def record_faults(self) -> bool:
        """Whether any fault changes served records (not just the transport)."""
        return bool(self.missing or self.drift or self.ties or self.backwards)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """`rate_limit=0.1,server_error=0.05` -> Faults."""
        f = cls()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            if not hasattr(f, key):
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(f.__dataclass_fields__)}")
            setattr(f, key, float(value))
        return f


def share(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for a record and a fault."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def missing_field(entity: str, record_id: str, rate: float) -> str | None:
    """The required field the `missing` fault removes from this record, if it does."""
    return MISSING_FIELD[entity] if rate > 0 and share("missing", entity, record_id) < rate else None


def served_body(entity: str, record_id: str, updated_at: int, body: dict, faults: Faults, previous: int | None) -> dict:
    """The record as the faulty source serves it (the body is a fresh dict per call)."""
    field = missing_field(entity, record_id, faults.missing)
    if field is not None:
        body.pop(field, None)
    if faults.drift and share("drift", entity, record_id) < faults.drift:
        body.update(DRIFT_FIELDS)
    floor = (previous if previous is not None else -1) + 1
    if faults.ties and share("ties", entity, record_id) < faults.ties:
        body["updated_at"] = bj_iso(max(floor, updated_at - (updated_at + 8 * 3600) % 86400))
    elif faults.backwards and share("backwards", entity, record_id) < faults.backwards:
        delta = 3600 + int(share("backwards-by", entity, record_id) * 6 * 86400)
        body["updated_at"] = bj_iso(max(floor, updated_at - delta))
    return body


def needs_previous(faults: Faults) -> bool:
    return bool(faults.ties or faults.backwards)
