"""Properties of the watermark with Hypothesis: whatever `updated_at` stamps a source serves
— honest ones in any ISO 8601 layout and UTC offset, ones from a clock running ahead (by
minutes within the tolerance, or by years), ones that do not parse — the watermark a run
stores is the newest stamp not after the run's present plus `CLOCK_SKEW_TOLERANCE`, never
a skewed one (sources.md: "`updated_at` comes from the source system's clock, which can be
wrong (even years ahead)").

The oracle is written here, independently of the parser: every stamp is generated from an
instant (or as something that is no instant), so the expected watermark is the greatest
generated instant not after the bound. `extract.beijing_time.newest_stamp` is checked page by
page, and `extract.api.extract_endpoint` over a whole run, driven through its client seam
(`get_json`) with pages served from memory and landed into a temporary folder.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from extract.api import CLOCK_SKEW_TOLERANCE, extract_endpoint
from extract.beijing_time import BEIJING, iso, newest_stamp, parse_ts
from extract.http_client import CallStats
from extract.sources import ORDERS

# the run's present: a data interval ending a day from now (so `present()` = the interval end)
PRESENT = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).astimezone(BEIJING)
BOUND = PRESENT + CLOCK_SKEW_TOLERANCE
MINUS_FIVE = timezone(timedelta(hours=-5))
UNPARSEABLE = [
    None,
    "",
    "yesterday",
    12345,
    1.5,
    ["2021-06-01T00:00:00+08:00"],
    {"at": "2021-06-01"},
    "2021-13-01T00:00:00+08:00",
    "2021-02-30T12:00:00+08:00",
    "2021-06-01T25:00:00+08:00",
    "2021-06-01T00:00:00+08:00 (approx.)",
]


def layout(at: datetime, name: str) -> str:
    """An instant written in one of the ISO 8601 layouts a source may use."""
    return {
        "beijing": lambda: at.astimezone(BEIJING).isoformat(),  # what sources.md promises
        "utc-z": lambda: at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z",
        "utc-offset": lambda: at.astimezone(UTC).isoformat(),
        "minus-five": lambda: at.astimezone(MINUS_FIVE).isoformat(),
        "naive-beijing": lambda: at.astimezone(BEIJING).replace(tzinfo=None).isoformat(),  # no offset: Beijing
        "space": lambda: at.astimezone(BEIJING).isoformat(sep=" "),
        "micro": lambda: at.astimezone(BEIJING).isoformat(timespec="microseconds"),
    }[name]()


LAYOUTS = ["beijing", "utc-z", "utc-offset", "minus-five", "naive-beijing", "space", "micro"]


@dataclass
class Stamp:
    value: object  # what the source serves as updated_at
    instant: datetime | None  # what it means (None: no instant at all)


@st.composite
def stamps(draw, layout_name: str | None = None):
    """An honest stamp (up to a year old, or up to the tolerance ahead of the present — the
    bound itself included), a skewed one (a second to 30 years after the bound), or junk."""
    kind = draw(st.sampled_from(["past", "past", "past", "near-present", "bound", "skewed", "junk"]))
    if kind == "junk":
        return Stamp(draw(st.sampled_from(UNPARSEABLE)), None)
    if kind == "past":
        at = PRESENT - timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    elif kind == "near-present":
        at = PRESENT + timedelta(seconds=draw(st.integers(-600, 600)))
    elif kind == "bound":
        at = BOUND + timedelta(seconds=draw(st.sampled_from([-1, 0, 1])))
    else:
        at = BOUND + timedelta(seconds=draw(st.integers(1, 30 * 365 * 86400)))
    name = layout_name or draw(st.sampled_from(LAYOUTS))
    if name == "micro":
        at += timedelta(microseconds=draw(st.integers(1, 999_999)))
    return Stamp(layout(at, name), at)


@st.composite
def pages(draw):
    """A page of stamps, half the time all in one layout (what a real source serves, and
    what `newest_stamp` reads from text order)."""
    one_layout = draw(st.one_of(st.none(), st.sampled_from(LAYOUTS)))
    return draw(st.lists(stamps(one_layout), max_size=12))


def expected_newest(page: list[Stamp], bound: datetime) -> tuple[datetime | None, list[int]]:
    """The oracle: the greatest instant not after the bound, and where those after it are."""
    trusted = [s.instant for s in page if s.instant is not None and s.instant <= bound]
    after = [i for i, s in enumerate(page) if s.instant is not None and s.instant > bound]
    return (max(trusted) if trusted else None), after


@given(pages())
def test_a_pages_newest_stamp_is_the_newest_instant_not_after_the_bound(page):
    # GIVEN a page of stamps: honest, ahead by the tolerance or by years, in any layout, junk
    # WHEN its newest trusted stamp is read
    newest, after = newest_stamp([s.value for s in page], BOUND)
    # THEN it is the greatest instant not after the bound, and the ones after it are flagged
    assert (newest, after) == expected_newest(page, BOUND)


class PagesInMemory:
    """The client seam of `extract_endpoint`: a cursor source serving the generated pages."""

    def __init__(self, pages: list[list[Stamp]]):
        self.pages = pages
        self.stats = CallStats()

    def get_json(self, path: str, params: dict) -> dict:
        self.stats.requests += 1
        n = int(params.get("cursor", 0))
        records = [{"order_id": f"o{n}-{i}", "updated_at": s.value} for i, s in enumerate(self.pages[n])]
        return {"data": records, "next_cursor": str(n + 1) if n + 1 < len(self.pages) else None}


@st.composite
def stored_watermarks(draw):
    """(text, instant) of the watermark a previous run stored: none, an honest one, or one
    written before watermarks were bounded and now in the future."""
    kind = draw(st.sampled_from(["none", "past", "future"]))
    if kind == "none":
        return None, None
    if kind == "past":
        at = PRESENT - timedelta(seconds=draw(st.integers(0, 400 * 86400)))
    else:
        at = BOUND + timedelta(seconds=draw(st.integers(1, 30 * 365 * 86400)))
    return iso(at), at


@given(st.lists(pages(), min_size=1, max_size=5), stored_watermarks())
def test_a_runs_watermark_is_the_newest_stamp_not_after_its_present_never_a_skewed_one(run_pages, stored):
    # GIVEN a run whose present is its data interval's end, a stored watermark (maybe one in
    # the future), and pages of stamps from honest and skewed clocks and junk
    stored_text, stored_at = stored
    with tempfile.TemporaryDirectory() as landing:
        # WHEN the run extracts them
        m = extract_endpoint(
            PagesInMemory(run_pages), ORDERS, Path(landing), "run", stored_text, interval=(None, iso(PRESENT))
        )
    everything = [s for page in run_pages for s in page]
    trusted_stored = [stored_at] if stored_at is not None and stored_at <= BOUND else []
    newest, after = expected_newest(everything, BOUND)
    want = max([*trusted_stored, *([newest] if newest else [])], default=None)
    got = parse_ts(m.watermark_after) if m.watermark_after else None
    # THEN the run's present is its interval's end
    assert m.present == iso(PRESENT)
    # AND the new watermark is the newest stamp (or trusted stored watermark) not after the
    # present plus the tolerance: never a skewed stamp, never behind a trusted stored one
    assert got == want
    assert got is None or got <= BOUND
    # AND the records stamped after it are counted as clock skew
    assert m.clock_skewed == len(after)
    assert m.records_received == len(everything)
