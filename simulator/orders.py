"""S3, the order service platform (湖北点单、服务团接单、中国科协买单): orders and service teams.

Each order is generated from its own random stream as a life story: placed, perhaps
cancelled, accepted by a service team, in service, resolved, paid, closed, and now and then
corrected later. Every step is a new version of the record with a later `updated_at`;
the source shows, at a clock position, the latest version whose `updated_at` has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from simulator.world import (
    PLAN_LAUNCH,
    WORLD_END,
    WorldConfig,
    bj_iso,
    counties,
    money,
    to_epoch,
)

ORDERS_AT_SF1 = 4000
TEAMS_AT_SF1 = 150

SIZES = (("large", 10), ("medium", 25), ("small", 40), ("micro", 25))
INDUSTRIES = ("装备制造", "汽车零部件", "光电子信息", "生物医药", "食品加工", "纺织服装", "新材料", "化工")
DEMANDS = ("技术攻关", "工艺改进", "设备维修", "人才培训", "标准认证", "融资对接", "市场拓展")
SOCIETIES = (
    "中国机械工程学会",
    "中国电子学会",
    "中国化工学会",
    "中国汽车工程学会",
    "中国药学会",
    "中国纺织工程学会",
    "中国材料研究学会",
)
NAME_WORDS = ("华创", "楚天", "长江", "光谷", "荆楚", "汉江", "鄂东", "江汉", "神农", "三峡")

_START = to_epoch(PLAN_LAUNCH)
_END = to_epoch(WORLD_END)
HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class Version:
    """One published version of a record: when it appeared and what it said."""

    entity: str
    record_id: str
    seq: int
    updated_at: int
    body: dict


def _weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for value, weight in pairs:
        x -= weight
        if x <= 0:
            return value
    return pairs[-1][0]


def team_ids(cfg: WorldConfig) -> list[str]:
    return [f"T{n:05d}" for n in range(1, cfg.count(TEAMS_AT_SF1) + 1)]


def team_versions(cfg: WorldConfig) -> Iterator[Version]:
    for seq_team, team_id in enumerate(team_ids(cfg)):
        rng = cfg.rng("team", team_id)
        created = _START - rng.randint(1, 20) * DAY
        body = {
            "team_id": team_id,
            "team_name": f"{rng.choice(SOCIETIES)}服务团{seq_team + 1}队",
            "lead_society": rng.choice(SOCIETIES),
            "member_count": rng.randint(3, 30),
        }
        yield Version("service_teams", team_id, 0, created, {**body, "updated_at": bj_iso(created)})
        if rng.random() < 0.3:  # the team grows later
            later = created + rng.randint(30, 400) * DAY
            body = {**body, "member_count": body["member_count"] + rng.randint(1, 10)}
            yield Version("service_teams", team_id, 1, later, {**body, "updated_at": bj_iso(later)})


def order_versions(cfg: WorldConfig) -> Iterator[Version]:
    """Every version of every order, order by order (not sorted by time)."""
    all_counties = counties()
    # Wuhan's districts place more orders than the rest of the province.
    weights = [4 if c.prefecture_code == "420100" else 1 for c in all_counties]
    teams = team_ids(cfg)
    for n in range(1, cfg.count(ORDERS_AT_SF1) + 1):
        yield from _one_order(cfg, n, all_counties, weights, teams)


def _one_order(cfg, n, all_counties, weights, teams) -> Iterator[Version]:
    rng = cfg.rng("order", n)
    order_id = f"O{n:08d}"
    county = rng.choices(all_counties, weights)[0]
    placed = _START + rng.randrange(0, (_END - _START) - 20 * DAY) // 60 * 60
    state = {
        "order_id": order_id,
        "enterprise_id": f"E{rng.randint(1, cfg.count(2500)):07d}",
        "enterprise_name": f"{county.name}{rng.choice(NAME_WORDS)}科技有限公司",
        "enterprise_size": _weighted(rng, SIZES),
        "county_code": county.code,
        "industry": rng.choice(INDUSTRIES),
        "demand_type": rng.choice(DEMANDS),
        "placed_at": bj_iso(placed),
        "status": "placed",
        "service_team_id": None,
        "accepted_at": None,
        "resolved_at": None,
        "cast_paid_cny": money(0),
        "tech_transaction_cny": money(0),
        "satisfaction": None,
        "contact_phone": f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}",
    }
    seq = 0

    def version(at: int, **changes) -> Version:
        nonlocal seq
        state.update(changes)
        v = Version("orders", order_id, seq, at, {**state, "updated_at": bj_iso(at)})
        seq += 1
        return v

    yield version(placed)
    fate = rng.random()
    if fate < 0.06:  # withdrawn before any team took it
        yield version(placed + rng.randint(1, 72) * HOUR, status="cancelled")
        return
    # Acceptance delay in minutes: mostly hours, with a long tail of days.
    accepted = placed + max(10, round(rng.lognormvariate(2.8, 0.9) * 60)) * 60
    yield version(accepted, status="accepted", service_team_id=rng.choice(teams), accepted_at=bj_iso(accepted))
    if fate < 0.09:  # cancelled after acceptance: it never counts
        yield version(accepted + rng.randint(1, 10) * DAY, status="cancelled")
        return
    in_service = accepted + rng.randint(1, 5) * DAY
    yield version(in_service, status="in_service")
    if fate > 0.88:  # still in service at the end of the world
        return
    resolved = in_service + rng.randint(3, 60) * DAY + rng.randint(0, 86399)
    tech = round(rng.lognormvariate(11.0, 1.1) * 100)
    yield version(resolved, status="resolved", resolved_at=bj_iso(resolved), tech_transaction_cny=money(tech))
    paid = resolved + rng.randint(5, 40) * DAY
    yield version(paid, cast_paid_cny=money(rng.choice((5000, 10000, 20000, 30000, 50000)) * 100 + rng.randint(0, 99)))
    if rng.random() < 0.6:
        closed = paid + rng.randint(0, 20) * DAY
        yield version(closed, status="closed", satisfaction=rng.randint(3, 5))
    if rng.random() < 0.1:  # a late correction of the transaction amount
        yield version(paid + rng.randint(21, 90) * DAY, tech_transaction_cny=money(round(tech * rng.uniform(0.8, 1.3))))


def visible(versions, clock: int):
    """The latest version of each record at a clock position: {record_id: Version}."""
    current: dict[str, Version] = {}
    for v in versions:
        if v.updated_at <= clock:
            prev = current.get(v.record_id)
            if prev is None or (v.updated_at, v.seq) > (prev.updated_at, prev.seq):
                current[v.record_id] = v
    return current
