"""Beijing time (UTC+8), the zone every source and every published month is in (sources.md).

The one definition of it in the pipeline: a fixed offset, which is correct because China has
had no daylight saving since 1991, plus its tz database name for Airflow's timetables. dbt's
copy is the `beijing_local` macro (SQL cannot import this).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
TZ_NAME = "Asia/Shanghai"  # the same zone for libraries that want a name (Airflow timetables)


def parse_ts(text: str) -> datetime:
    """An ISO 8601 instant; one without an offset is Beijing time (the sources' zone)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)


def iso(dt: datetime) -> str:
    """An instant as ISO 8601 in Beijing time (how the sources write them)."""
    return dt.astimezone(BEIJING).isoformat()


def local_date(dt: datetime) -> date:
    return dt.astimezone(BEIJING).date()


def month_start(dt: datetime) -> date:
    """The first day of the instant's Beijing-time month."""
    return local_date(dt).replace(day=1)


# ISO 8601 with every digit written as 0: the layouts whose text order is their time order
# (fixed-width fields, most significant first) once the offset is one and the same
_DIGITS = str.maketrans("123456789", "000000000")
_LAYOUT = re.compile(r"0000-00-00[T ]00:00(:00(\.0+)?)?([+-]00:00|Z)?")


def newest_stamp(stamps: list, bound: datetime) -> tuple[datetime | None, list[int]]:
    """Of a page's `updated_at` values: the newest instant not after `bound`, and the
    positions of those after it (a clock running ahead); a value that does not parse is
    neither. A source writes its stamps in one layout and one UTC offset, and then text
    order is time order: only the greatest is parsed (a page of 500 in a tenth of the time),
    and each only when that one lies after `bound` or the page mixes layouts."""
    top = _greatest_of_one_layout(stamps)
    if top is not None:
        try:
            ts = parse_ts(top)
        except ValueError:  # the right shape but no date (a 13th month): read them one by one
            ts = None
        if ts is not None and ts <= bound:
            return ts, []
    newest, after = None, []
    for i, text in enumerate(stamps):
        try:
            ts = parse_ts(text)
        except (TypeError, ValueError, AttributeError):
            continue
        if ts > bound:
            after.append(i)
        elif newest is None or ts > newest:
            newest = ts
    return newest, after


def _greatest_of_one_layout(stamps: list) -> str | None:
    """The greatest stamp as text, when all are text of one ISO 8601 layout (one length, the
    same separators in the same places) with one offset; None otherwise."""
    if not stamps or set(map(type, stamps)) != {str} or len(set(map(len, stamps))) != 1:
        return None
    width, skeleton = len(stamps[0]), stamps[0].translate(_DIGITS)
    joined = "".join(stamps)
    if not _LAYOUT.fullmatch(skeleton) or joined.translate(_DIGITS) != skeleton * len(stamps):
        return None
    if skeleton[-6] in "+-":  # the offset's digits, column by column, are the same on every stamp
        for j in range(width - 5, width):
            column = joined[j::width]
            if column != column[0] * len(stamps):
                return None
    return max(stamps)
