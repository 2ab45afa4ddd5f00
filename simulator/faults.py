"""Faults on demand, per source, all off by default.

`--faults SOURCE:name=value,...` switches them on (`Faults.parse`, `simulator.sources.parse_specs`).

Transport faults (`rate_limit`, `server_error`, `drop`, `slow`) are rolled per request.

Paging faults change how a listing is cut into pages, never which records it holds:

- `page_cap=N`: the server serves at most N items per page whatever `page_size` / `limit`
  asked. Offset APIs (S1) echo the size they used in the envelope's `page_size` and count
  pages in that size (page p holds rows [(p-1)·used, p·used)); `total` is unchanged. Cursor
  APIs (S2, S3) give a `next_cursor` whenever a page is full at the capped size, so a page
  shorter than `limit` is not the end of the listing.
- `unordered=1` (offset APIs only): the listing is ordered by record id, not by
  (updated_at, id) — sources.md promises no order. `total` still counts the records that
  match the filter. `shift` then means something else: an update no longer moves a record
  (its id does not change), but a record that enters a `modified_after` listing (an update
  to a record older than the filter, made while a client pages) lands at its id's place
  before the client's position, so every later row moves one place towards the END and
  the client reads the row at the page boundary twice (nothing is lost: the newcomer was
  not in the listing when the read began, and its new `updated_at` is the clock). An
  unfiltered listing does not shift at all (the fault then only republishes a record the
  client already read).

Record faults change served records. They are decided by a stable hash (`share`) of the
record's entity and id (and, for per-version faults, the version's true `updated_at`), so
they are repeatable and a test can ask which records carry them. `served_body` is the one
function that turns a generated version into the body the faulty source serves; the
server and the truth (`simulator.truth`) both call it.

- `missing`: share of records served without one required field (`MISSING_FIELD`); all
  versions of such a record lack it, so a correct pipeline quarantines the whole record
  (see `missing_field`, and `truth.metric_values(..., faults=...)` which leaves them out).
- `drift`: share of records that carry new, undocumented fields (`DRIFT_FIELDS`).
- `personal`: share of records that carry a person's name and phone under field names the
  contract does not know (`personal_fields`): a pipeline must never land them.
- `typo_year`: share of records (all versions alike) served with a date one year late, as
  if 2021 were typed for 2020: an order's `placed_at`, a stop-visit's `visit_date`
  (`TYPO_YEAR_FIELD`). The record id (a stop-visit's `<stop_id>/<visit_date>`) is not
  changed. The truth applies quarantine rules R1/R2 to the served value (`typo_year`).
- `ties`: share of records whose system keeps dates only: every served `updated_at` is cut
  to Beijing midnight, so runs of records share one timestamp across page boundaries; and
  about half of such a record's versions after its first (`tied_to_previous`) are served
  with exactly the previous version's `updated_at` (a correction that did not bump it), so
  versions of the SAME record share a timestamp. The served value is never later than
  the true one.
- `backwards`: share of records whose served `updated_at` is 1 hour to 6 days earlier
  than their place in the (true-time) order (a late write stamped with the client's
  clock), so it goes backwards within and across pages; it stays later than the record's
  previous version.
- `skew`: share of record VERSIONS (hash of entity, id and the version's true
  `updated_at`: `skewed`) served with `updated_at` stamped `SKEW_YEARS` (30) years ahead —
  a source clock that runs ahead. The record's later versions are stamped normally.
  A record is either tied or backwards, never both; a skewed version is only skewed.

None of the timestamp faults (`ties`, `backwards`, `skew`) changes which version is the
latest: the server's `modified_after` / `updated_since` filter, its order and its cursors
work on the true time, and the truth is "the latest version at the clock" as generated.

- `shift` (offset pagination, S1): probability that, before a page after the first is
  served, a record the client has already paged past is updated (republished at the
  clock): it moves to the end and every later row shifts one place towards the start
  (with `unordered`, see above).

Drop-folder faults (sources `rural_centre_reports` (S4) and `plan_ledger` (S5)):

- `broken=rate`: share of files (by a stable hash of the path) replaced by a broken or
  awkward form; the files so chosen take the kinds of `simulator.drops.REPORT_DEFECTS` /
  `LEDGER_DEFECTS` in turn, in submission order (a kind a file cannot carry waits for the
  next chosen file), so any run of as many chosen files as there are kinds shows every
  kind. See `simulator/drops/` for each kind and `drops.drop_plan` for what a test can
  ask (rejected files, quarantined rows, the sheet the data is on).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from simulator.world import BEIJING, bj_iso

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
# the `personal` fault: a person's data under field names the contract does not know
PERSONAL_NAME = "欧阳振华"


def personal_fields(entity: str, record_id: str) -> dict:
    """What the `personal` fault adds to a record: a contact's name and mobile number under
    new names (a source that renamed contact_phone, or added a contact person)."""
    phone = f"19{int(share('personal-phone', entity, record_id) * 10**9):09d}"
    return {"contactMobile": phone, "联系人": PERSONAL_NAME, "contact_person": f"{PERSONAL_NAME} {phone}"}


TYPO_YEAR_FIELD = {"orders": "placed_at", "stop_visits": "visit_date"}
SKEW_YEARS = 30
TIED_TO_PREVIOUS = 0.5  # share of a tied record's later versions that reuse the previous stamp

# which sources take which faults is `SimulatedSource.accepts` (simulator/sources.py)
DROP_FAULTS = frozenset({"broken", "names", "old_mtime"})
OFFSET_ONLY_FAULTS = frozenset({"unordered"})


@dataclass
class Faults:
    """Per-source fault rates (0..1) and switches; all off by default."""

    rate_limit: float = 0.0  # 429 with Retry-After
    server_error: float = 0.0  # 500 / 503
    drop: float = 0.0  # connection closed mid-body
    slow: float = 0.0  # response delayed by `slow_seconds`
    slow_seconds: float = 0.5
    missing: float = 0.0
    drift: float = 0.0
    personal: float = 0.0  # share of records carrying personal data under new field names
    ties: float = 0.0
    backwards: float = 0.0
    shift: float = 0.0
    page_cap: int = 0  # 0: no cap
    unordered: int = 0  # 1: offset listings ordered by record id
    skew: float = 0.0
    typo_year: float = 0.0
    broken: float = 0.0  # drop sources only
    names: float = 0.0  # drop sources only: share of files written under a hostile name (simulator.drops)
    old_mtime: float = 0.0  # drop sources only: share of files whose mtime the sender's clock set to 2019

    def record_faults(self) -> bool:
        """Whether any fault changes served records (not just the transport or the paging)."""
        return bool(
            self.missing or self.drift or self.personal or self.ties or self.backwards or self.skew or self.typo_year
        )

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """`rate_limit=0.1,server_error=0.05,page_cap=37` -> Faults."""
        f = cls()
        known = {fl.name for fl in fields(cls)}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            if isinstance(getattr(f, key), int) and not isinstance(getattr(f, key), bool):
                number = float(value)
                if not number.is_integer() or number < 0:
                    raise ValueError(f"fault {key} takes a whole number >= 0, got {value!r}")
                setattr(f, key, int(number))
            else:
                setattr(f, key, float(value))
        return f


def share(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for a record and a fault."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def missing_field(entity: str, record_id: str, rate: float) -> str | None:
    """The required field the `missing` fault removes from this record, if it does."""
    return MISSING_FIELD[entity] if rate > 0 and share("missing", entity, record_id) < rate else None


def typo_year(entity: str, record_id: str, rate: float) -> str | None:
    """The field the `typo_year` fault serves one year late in this record, if it does."""
    field = TYPO_YEAR_FIELD.get(entity)
    return field if field and rate > 0 and share("typo_year", entity, record_id) < rate else None


def skewed(entity: str, record_id: str, updated_at: int, rate: float) -> bool:
    """Whether the `skew` fault stamps this version (true `updated_at`) SKEW_YEARS ahead."""
    return rate > 0 and share("skew", entity, record_id, updated_at) < rate


def stamped_by_date_only(entity: str, record_id: str, rate: float) -> bool:
    """Whether the `ties` fault serves this record's `updated_at` with date precision."""
    return rate > 0 and share("ties", entity, record_id) < rate


def tied_to_previous(entity: str, record_id: str, updated_at: int) -> bool:
    """For a tied record: whether this version (true `updated_at`, not its first) is served
    with the previous version's stamp (unless the previous one is skewed)."""
    return share("ties-same", entity, record_id, updated_at) < TIED_TO_PREVIOUS


def backwards(entity: str, record_id: str, rate: float) -> bool:
    return rate > 0 and share("backwards", entity, record_id) < rate


def _plus_years(text: str, years: int) -> str:
    """An ISO date or timestamp with its year moved (Feb 29 becomes Feb 28)."""
    year = int(text[:4]) + years
    if text[4:10] == "-02-29" and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return f"{year:04d}-02-28{text[10:]}"
    return f"{year:04d}{text[4:]}"


def _skewed_epoch(updated_at: int) -> int:
    dt = datetime.fromtimestamp(updated_at, tz=BEIJING)
    return int(datetime.fromisoformat(_plus_years(dt.isoformat(), SKEW_YEARS)).timestamp())


def _midnight(updated_at: int) -> int:
    return updated_at - (updated_at + 8 * 3600) % 86400


def served_updated_at(entity: str, record_id: str, updated_at: int, faults: Faults, history: Sequence[int]) -> int:
    """The `updated_at` (epoch seconds) the faulty source stamps on a version.

    `history`: the true `updated_at` of the record's earlier versions, oldest first."""
    if skewed(entity, record_id, updated_at, faults.skew):
        return _skewed_epoch(updated_at)
    if stamped_by_date_only(entity, record_id, faults.ties):
        return _tied_stamp(entity, record_id, updated_at, list(history), faults.skew)
    if backwards(entity, record_id, faults.backwards):
        floor = (history[-1] if history else -1) + 1
        delta = 3600 + int(share("backwards-by", entity, record_id) * 6 * 86400)
        return max(floor, updated_at - delta)
    return updated_at


def _tied_stamp(entity: str, record_id: str, updated_at: int, history: list[int], skew: float) -> int:
    while history and tied_to_previous(entity, record_id, updated_at):
        previous = history.pop()
        if skewed(entity, record_id, previous, skew):
            break  # a skewed stamp is not shared: later versions are stamped normally
        updated_at = previous
    return _midnight(updated_at)


def served_body(
    entity: str, record_id: str, updated_at: int, body: dict, faults: Faults, history: Sequence[int] = ()
) -> dict:
    """The record as the faulty source serves it (`body` is changed in place and returned:
    pass a fresh dict). `history`: the true `updated_at` of the record's earlier versions,
    oldest first (only the timestamp faults `ties` and `backwards` read it)."""
    field = missing_field(entity, record_id, faults.missing)
    if field is not None:
        body.pop(field, None)
    if faults.drift and share("drift", entity, record_id) < faults.drift:
        body.update(DRIFT_FIELDS)
    if faults.personal and share("personal", entity, record_id) < faults.personal:
        body.update(personal_fields(entity, record_id))
    late = typo_year(entity, record_id, faults.typo_year)
    if late is not None and body.get(late) is not None:
        body[late] = _plus_years(body[late], 1)
    if "updated_at" in body:
        stamp = served_updated_at(entity, record_id, updated_at, faults, history)
        if stamp != updated_at:
            body["updated_at"] = bj_iso(stamp)
    return body


def needs_history(faults: Faults) -> bool:
    """Whether `served_body` reads the record's earlier versions."""
    return bool(faults.ties or faults.backwards)
