"""S2, the Sci-Tech China hub-city roadshows (科创中国 技术路演): roadshows and their projects.

A roadshow is scheduled weeks ahead at a hub city (Wuhan 420100, often in the East Lake
High-tech Zone, or Xianning 421200), sometimes moved to another date, then held (the
attendance is reported the next day) or cancelled. Its projects are registered when it is
scheduled; intent agreements, contracts and talents are reported weeks after it is held.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from simulator.orders import Version
from simulator.world import WORLD_END, WorldConfig, beijing_epoch, bj_iso, money, to_epoch

ROADSHOWS_AT_SF1 = 200
INDUSTRIES = ("光电子信息", "生物医药", "智能制造", "新能源汽车", "新材料", "节能环保", "现代农业", "数字经济")
ORGS = ("华中科技大学", "武汉大学", "武汉理工大学", "中科院武汉分院", "湖北科技学院", "湖北大学", "企业研发中心")
DAY = 86400
FIRST_DAY = date(2020, 8, 1)


def roadshow_stories(cfg: WorldConfig) -> Iterator[tuple[list[Version], list[list[Version]]]]:
    """(roadshow versions, [project versions, ...]) for each roadshow."""
    end = to_epoch(WORLD_END)
    for n in range(1, cfg.count(ROADSHOWS_AT_SF1) + 1):
        rs, projects = _story(cfg, n)
        yield [v for v in rs if v.updated_at <= end], [[v for v in p if v.updated_at <= end] for p in projects]


def roadshow_versions(cfg: WorldConfig) -> Iterator[Version]:
    for rs, _ in roadshow_stories(cfg):
        yield from rs


def project_versions(cfg: WorldConfig) -> Iterator[Version]:
    for _, projects in roadshow_stories(cfg):
        for p in projects:
            yield from p


def _story(cfg: WorldConfig, n: int):
    rng = cfg.rng("roadshow", n)
    rid = f"RS{n:05d}"
    wuhan = rng.random() < 0.7
    held_on = FIRST_DAY + timedelta(days=rng.randint(0, 515))
    body = {
        "roadshow_id": rid,
        "hub_city_code": "420100" if wuhan else "421200",
        "zone": "东湖高新区" if wuhan and rng.random() < 0.45 else "",
        "held_on": held_on.isoformat(),
        "industry": rng.choice(INDUSTRIES),
        "status": "scheduled",
        "enterprises_attending": 0,
    }
    t = beijing_epoch(held_on - timedelta(days=rng.randint(14, 45)), 11, rng.randint(0, 59))
    versions = [Version("roadshows", rid, 0, t, {**body, "updated_at": bj_iso(t)})]

    def step(when: int, **changes) -> None:
        body.update(changes)
        versions.append(Version("roadshows", rid, len(versions), when, {**body, "updated_at": bj_iso(when)}))

    if rng.random() < 0.15:  # moved to a later date
        moved = held_on + timedelta(days=rng.randint(7, 30))
        step(beijing_epoch(held_on - timedelta(days=rng.randint(2, 6)), 15), held_on=moved.isoformat())
        held_on = moved
    cancelled = rng.random() < 0.1
    if cancelled:
        step(beijing_epoch(held_on - timedelta(days=rng.randint(1, 5)), 17), status="cancelled")
    else:
        step(
            beijing_epoch(held_on + timedelta(days=1), 10, rng.randint(0, 59)),
            status="held",
            enterprises_attending=rng.randint(8, 120),
        )
    projects = []
    for k in range(1, rng.randint(2, 8) + 1):
        pid = f"{rid}-P{k:02d}"
        prng = cfg.rng("project", pid)
        p = {
            "project_id": pid,
            "roadshow_id": rid,
            "title": f"{prng.choice(INDUSTRIES)}关键技术项目{k}",
            "tech_field": prng.choice(INDUSTRIES),
            "source_org": prng.choice(ORGS),
            "intent_agreements": 0,
            "signed_contracts": 0,
            "contract_amount_cny": money(0),
            "talents_introduced": 0,
        }
        t0 = versions[0].updated_at + prng.randint(1, 5) * DAY
        pv = [Version("roadshow_projects", pid, 0, t0, {**p, "updated_at": bj_iso(t0)})]
        if not cancelled:
            t1 = beijing_epoch(held_on + timedelta(days=prng.randint(2, 10)), 14)
            p.update(intent_agreements=prng.randint(0, 6))
            pv.append(Version("roadshow_projects", pid, 1, t1, {**p, "updated_at": bj_iso(t1)}))
            if prng.random() < 0.55:  # contracts signed weeks later
                t2 = t1 + prng.randint(15, 90) * DAY
                signed = prng.randint(1, 3)
                p.update(
                    signed_contracts=signed,
                    contract_amount_cny=money(signed * prng.randint(50_000, 3_000_000) * 100 + prng.randint(0, 99)),
                    talents_introduced=prng.randint(0, 5),
                )
                pv.append(Version("roadshow_projects", pid, 2, t2, {**p, "updated_at": bj_iso(t2)}))
        projects.append(pv)
    return versions, projects
