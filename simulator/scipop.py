"""S1, the science popularisation platform (科普服务平台): mobile museum stops, their daily
visits, and the registry of rural middle-school science centres.

Each travelling museum set tours the province from the plan's start to the end of the
world: stop after stop of one to three weeks in a county, with gaps between. A stop is
announced (`planned`), opens on its start date, closes the day after its end date, or is
cancelled before it opens (then it has no visits). Visits are published every evening, one
row per stop and day, and about one in seven days is corrected a few days later. Rural
centres are registered before they open and are now and then suspended or closed.

Every record is a pure function of (seed, scale, record number): generators stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from simulator.orders import Version
from simulator.world import WORLD_END, WorldConfig, beijing_epoch, bj_iso, counties, to_epoch

MUSEUM_SETS_AT_SF1 = 36
CENTRES_AT_SF1 = 320
THEMES = ("科技抗疫", "航天梦想", "数学之美", "生命奥秘", "能源与环境", "智能制造", "光与电", "地球家园")
VENUES = ("县科技馆", "县文化馆", "体育馆", "实验中学", "青少年活动中心", "图书馆")
SCHOOL_WORDS = ("第一中学", "第二中学", "实验中学", "镇中学", "民族中学", "育才中学")

FIRST_TOUR_DAY = date(2020, 7, 25)
LAST_DAY = WORLD_END.date()
DAY = 86400


def stop_versions(cfg: WorldConfig) -> Iterator[Version]:
    """Every version of every exhibition stop, set by set."""
    for s in range(1, cfg.count(MUSEUM_SETS_AT_SF1) + 1):
        for stop, _days in _tour(cfg, s):
            yield from stop


def visit_versions(cfg: WorldConfig) -> Iterator[Version]:
    """Every version of every stop-day visit row (record id `<stop_id>/<visit_date>`)."""
    for s in range(1, cfg.count(MUSEUM_SETS_AT_SF1) + 1):
        for _stop, days in _tour(cfg, s):
            yield from days


def _tour(cfg: WorldConfig, s: int):
    """(stop versions, visit versions) for each stop of museum set `s`, in tour order."""
    rng = cfg.rng("museum_set", s)
    set_id = f"MS{s:03d}"
    theme = rng.choice(THEMES)
    all_counties = counties()
    day = FIRST_TOUR_DAY + timedelta(days=rng.randint(0, 60))
    k = 0
    while True:
        k += 1
        length = rng.randint(7, 21)
        start, end = day, day + timedelta(days=length - 1)
        if end > LAST_DAY:
            return
        county = rng.choice(all_counties)
        stop_id = f"ST{s:03d}{k:03d}"
        body = {
            "stop_id": stop_id,
            "museum_set_id": set_id,
            "theme": theme,
            "host_county_code": county.code,
            "venue_name": f"{county.name}{rng.choice(VENUES)}",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "status": "planned",
        }
        announced = beijing_epoch(start - timedelta(days=rng.randint(10, 40)), 10, rng.randint(0, 59))
        stop = [Version("exhibition_stops", stop_id, 0, announced, {**body, "updated_at": bj_iso(announced)})]
        fate = rng.random()
        visits: list[Version] = []
        if fate < 0.07:  # cancelled a few days before opening: no visits, never counts
            t = beijing_epoch(start - timedelta(days=rng.randint(1, 8)), 16)
            stop.append(
                Version("exhibition_stops", stop_id, 1, t, {**body, "status": "cancelled", "updated_at": bj_iso(t)})
            )
            day = start + timedelta(days=rng.randint(2, 10))
            yield stop, visits
            continue
        if fate > 0.9 and length < 18:  # extended while open: the end date moves
            end = end + timedelta(days=3)
        opened = beijing_epoch(start, 8, 30)
        body = {**body, "status": "open"}
        stop.append(Version("exhibition_stops", stop_id, 1, opened, {**body, "updated_at": bj_iso(opened)}))
        if end.isoformat() != body["end_date"]:
            t = opened + rng.randint(2, 5) * DAY
            body = {**body, "end_date": end.isoformat()}
            stop.append(Version("exhibition_stops", stop_id, 2, t, {**body, "updated_at": bj_iso(t)}))
        closed = beijing_epoch(end + timedelta(days=1), 9)
        stop.append(
            Version(
                "exhibition_stops",
                stop_id,
                len(stop),
                closed,
                {**body, "status": "closed", "updated_at": bj_iso(closed)},
            )
        )
        base = rng.randint(150, 1500)
        d = start
        while d <= end:
            visitors = max(0, round(base * rng.uniform(0.4, 1.6) * (1.5 if d.weekday() >= 5 else 1.0)))
            students = round(visitors * rng.uniform(0.2, 0.7))
            rid = f"{stop_id}/{d.isoformat()}"
            row = {"stop_id": stop_id, "visit_date": d.isoformat(), "visitors": visitors, "student_visitors": students}
            t = beijing_epoch(d, 21, rng.randint(0, 59))
            visits.append(Version("stop_visits", rid, 0, t, {**row, "updated_at": bj_iso(t)}))
            if rng.random() < 0.15:  # corrected days later
                t2 = t + rng.randint(1, 6) * DAY + rng.randint(0, 3600)
                fixed = max(0, visitors + rng.randint(-50, 200))
                row = {**row, "visitors": fixed, "student_visitors": min(students, fixed)}
                visits.append(Version("stop_visits", rid, 1, t2, {**row, "updated_at": bj_iso(t2)}))
            d += timedelta(days=1)
        yield stop, visits
        day = end + timedelta(days=rng.randint(3, 20))


def centre_county(cfg: WorldConfig, n: int):
    """A centre's county (outside Wuhan's central districts: these are rural schools)."""
    rural = [c for c in counties() if not (c.prefecture_code == "420100" and c.code < "420112")]
    return cfg.rng("centre", n).choice(rural)


def centre_versions(cfg: WorldConfig) -> Iterator[Version]:
    for n in range(1, cfg.count(CENTRES_AT_SF1) + 1):
        yield from centre_story(cfg, n)


def centre_story(cfg: WorldConfig, n: int) -> list[Version]:
    """A centre's registry versions: registered, opened, perhaps suspended (and back) or closed."""
    county = centre_county(cfg, n)
    rng = cfg.rng("centre", n, "story")
    centre_id = f"RC{n:05d}"
    if rng.random() < 0.4:  # already running when the plan started
        opened = date(2019, 9, 1) + timedelta(days=rng.randint(0, 280))
    else:
        opened = date(2020, 7, 15) + timedelta(days=rng.randint(0, 460))
    body = {
        "centre_id": centre_id,
        "school_code": f"{county.code}{rng.randint(1, 999):03d}{n % 100:02d}",
        "school_name": f"{county.name}{rng.choice(SCHOOL_WORDS)}",
        "county_code": county.code,
        "opened_on": opened.isoformat(),
        "status": "active",
    }
    registered = beijing_epoch(
        max(date(2020, 7, 1), opened - timedelta(days=rng.randint(5, 30))), 9, rng.randint(0, 59)
    )
    out = [Version("rural_centres", centre_id, 0, registered, {**body, "updated_at": bj_iso(registered)})]
    fate = rng.random()
    if fate < 0.12:  # suspended for a while (repairs, a school merger), maybe back
        t = registered + rng.randint(60, 400) * DAY
        out.append(Version("rural_centres", centre_id, 1, t, {**body, "status": "suspended", "updated_at": bj_iso(t)}))
        if rng.random() < 0.5:
            t2 = t + rng.randint(30, 120) * DAY
            out.append(
                Version("rural_centres", centre_id, 2, t2, {**body, "status": "active", "updated_at": bj_iso(t2)})
            )
    elif fate < 0.16:  # closed for good
        t = registered + rng.randint(90, 450) * DAY
        out.append(Version("rural_centres", centre_id, 1, t, {**body, "status": "closed", "updated_at": bj_iso(t)}))
    end = to_epoch(WORLD_END)
    return [v for v in out if v.updated_at <= end]


def status_on(story: list[Version], when: int) -> str | None:
    """A centre's registry status at an instant (None before it is registered)."""
    status = None
    for v in story:
        if v.updated_at <= when:
            status = v.body["status"]
    return status
