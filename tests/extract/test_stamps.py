"""A page's newest trusted `updated_at` and its stamps beyond the run's present, read from
text order where the page allows it (`extract.beijing_time.newest_stamp`): always the answer
that parsing every stamp gives."""

from __future__ import annotations

import random
from datetime import UTC, timedelta, timezone

from extract.beijing_time import _greatest_of_one_layout, newest_stamp, parse_ts

BOUND = parse_ts("2021-12-31T00:00:00+08:00")
BASE = parse_ts("2021-06-01T00:00:00+08:00")
LAYOUTS = [
    lambda d: d.isoformat(),  # what the sources write: 2021-06-01T00:00:00+08:00
    lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S+08:00"),
    lambda d: d.astimezone(timezone(timedelta(hours=-5))).isoformat(),
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: Beijing time
    lambda d: d.isoformat(timespec="microseconds"),
]
ODD = [None, 5, "", "yesterday", "2021-13-01T00:00:00+08:00", "2021-02-30T00:00:00+08:00", "2051-01-01T00:00:00+08:00"]


def parse_each(stamps, bound):
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


def test_the_newest_stamp_is_what_parsing_each_gives_on_any_page():
    rng = random.Random(20211231)
    for _ in range(3000):
        # GIVEN a page of stamps in one layout or several, some odd, some after the bound
        size = rng.choice([1, 2, 5, 50])
        layouts = LAYOUTS if rng.random() < 0.3 else [rng.choice(LAYOUTS)]
        stamps = [rng.choice(layouts)(BASE + timedelta(seconds=rng.randint(-(10**8), 10**8))) for _ in range(size)]
        if rng.random() < 0.3:
            stamps[rng.randrange(size)] = rng.choice(ODD)
        bound = BOUND if rng.random() < 0.7 else BASE
        # THEN the newest trusted stamp and the ones beyond the bound are those of parsing each
        assert newest_stamp(stamps, bound) == parse_each(stamps, bound), stamps


def test_a_page_in_one_layout_is_read_from_text_order_and_a_mixed_one_is_not():
    days = [BASE + timedelta(hours=h) for h in range(48)]
    for layout in LAYOUTS:
        assert _greatest_of_one_layout([layout(d) for d in days]) == layout(days[-1])
    # the same instants in two offsets, or with and without seconds, are not comparable as text
    assert _greatest_of_one_layout([LAYOUTS[0](days[0]), LAYOUTS[3](days[1])]) is None
    assert _greatest_of_one_layout(["2021-06-01T10:00+08:00", "2021-06-01T09:00:00+08:00"]) is None
    assert _greatest_of_one_layout(["2021-06-01T10:00:00+08:00", None]) is None
