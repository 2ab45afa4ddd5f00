"""S5, the plan ledger: one workbook a month (activities and targets), and its bytes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from simulator import compound_file, workbook
from simulator.drops.files import DropFile, months, next_month
from simulator.workbook import Sheet
from simulator.world import WorldConfig, beijing_epoch, counties

LEDGER_METRICS = {
    "anxin_aid_person_times": "M03",
    "online_classroom_views": "M04",
    "publicity_items": "M05",
    "literacy_survey_prefectures": "M06",
    "policy_reports": "M07",
    "academic_forums": "M07",
    "think_tank_centres": "M08",
    "intl_exchange_events": "M09",
}
ORDINALS = {"M03": "三", "M04": "四", "M05": "五", "M06": "六", "M07": "七", "M08": "八", "M09": "九"}
TARGETS = [
    ("anxin_aid_person_times", "420000", 200000, "2021-12-31"),
    ("online_classroom_views", "420000", 5000000, "2021-08-31"),
    ("publicity_items", "420000", 600, "2021-12-31"),
    ("literacy_survey_prefectures", "420000", 17, "2021-06-30"),
    ("policy_reports", "420000", 40, "2021-12-31"),
    ("academic_forums", "420000", 80, "2021-12-31"),
    ("think_tank_centres", "420000", 10, "2021-12-31"),
    ("intl_exchange_events", "420000", 30, "2021-12-31"),
    ("anxin_aid_person_times", "420100", 80000, "2021-12-31"),
]
LEDGER_INSTRUCTIONS = (
    "填表说明",
    "1. 工作表“台账”逐条登记活动：措施编号、指标代码、地区代码、日期、数值、说明。",
    "2. 工作表“目标”登记各指标的目标值与截止日期。",
    "3. 本页不录入数据。",
)


def ledger_files(cfg: WorldConfig) -> list[DropFile]:
    """One workbook a month; each re-states a few rows of the month before, corrected."""
    out: list[DropFile] = []
    previous: list[tuple] = []
    for m in months():
        rng = cfg.rng("ledger", m.isoformat())
        rows = _ledger_month(cfg, rng, m)
        fixes = []
        for row in rng.sample(previous, min(len(previous), 3)) if previous else []:
            if row[6] is None:
                fixes.append((row[0], row[1], row[2], row[3], row[4] + rng.randint(1, 9), "更正", None))
        targets = [
            (mid, reg, val * (1.2 if mid == "anxin_aid_person_times" and m >= date(2021, 3, 1) else 1), dl)
            for mid, reg, val, dl in TARGETS
        ]
        when = beijing_epoch(next_month(m) + timedelta(days=rng.randint(4, 11)), 17, rng.randint(0, 59))
        name = f"plan_ledger/一揽子计划实施台账_{m.year}年{m.month:02d}月.xlsx"
        out.append(DropFile(name, when, {"fmt": "xlsx"}, ledger=fixes + rows, targets=targets))
        previous = rows
    return out


def _ledger_month(cfg: WorldConfig, rng, m: date) -> list[tuple]:
    last = (next_month(m) - timedelta(days=1)).day
    prefectures = sorted({c.prefecture_code for c in counties()})
    all_counties = counties()
    rows: dict[tuple, tuple] = {}

    def add(metric: str, region: str, value: float, note: str = "", bad: tuple | None = None) -> None:
        d = date(m.year, m.month, rng.randint(1, last))
        measure = LEDGER_METRICS.get(metric, "M03")
        if rng.random() < 0.4:
            measure = ORDINALS[measure]
        rows.setdefault((metric, region, d), (measure, metric, region, d, value, note, bad))

    for _ in range(cfg.count(6)):
        add("anxin_aid_person_times", rng.choice(all_counties).code, rng.randint(20, 3000), "心理援助热线及线下服务")
    if m.month in (7, 8, 9):
        for _ in range(cfg.count(3)):
            add(
                "online_classroom_views", rng.choice(["420000", *prefectures]), rng.randint(10_000, 500_000), "网上课堂"
            )
    for _ in range(cfg.count(3)):
        add("publicity_items", rng.choice(prefectures), rng.randint(1, 20), "科技抗疫精神宣传")
    if date(2020, 10, 1) <= m <= date(2021, 6, 1):
        for _ in range(cfg.count(3)):
            c = rng.choice(all_counties)
            add(
                "literacy_survey_prefectures",
                rng.choice((c.code, c.prefecture_code)),
                rng.choice((1, 1, 1, 0)),
                "公民科学素质调查",
            )
    if rng.random() < 0.7:
        add("policy_reports", "420000", rng.randint(1, 4), "专报、《科技工作者建议》")
    for _ in range(cfg.count(2)):
        add("academic_forums", rng.choice(prefectures), rng.randint(1, 3), "学术论坛")
    if rng.random() < 0.25:
        add("think_tank_centres", rng.choice(("420100", "420500", "420600", "421200")), 1, "高校智库中心挂牌")
    if rng.random() < 0.5:
        add("intl_exchange_events", rng.choice(("420000", "420100")), rng.randint(1, 3), "对外民间科技交流")
    if rng.random() < 0.3:  # a row the pipeline must quarantine
        add("publicity_items", "429999", 3, "地区代码错误", bad=("地区代码", "429999", "unknown region code"))
    return sorted(rows.values(), key=lambda r: (r[3], r[1], r[2]))


LEDGER_HEADER = ["措施编号", "指标代码", "地区代码", "日期", "数值", "说明"]
TARGET_HEADER = ["指标代码", "地区代码", "目标值", "截止日期"]


def _ledger_sheets(f: DropFile, ledger: list[tuple]) -> tuple[Sheet, Sheet]:
    acts = [LEDGER_HEADER]
    acts += [
        [measure, metric, region, datetime(d.year, d.month, d.day), value, note]
        for measure, metric, region, d, value, note, _ in ledger
    ]
    targets = [TARGET_HEADER]
    targets += [[mid, reg, val, datetime.fromisoformat(dl)] for mid, reg, val, dl in f.targets]
    return Sheet("台账", acts), Sheet("目标", targets)


def ledger_formula(value) -> str:
    return f"=ROUND({value}*1,0)"


def render_ledger(f: DropFile) -> bytes:
    if f.defect == "zip_bomb":
        return workbook.zip_bomb("台账", LEDGER_HEADER, ("目标",), f.path.encode())
    acts, targets = _ledger_sheets(f, f.ledger)
    if f.defect == "merged_cells":
        first, last = f.defect_rows[0] + 2, f.defect_rows[-1] + 2
        acts.merges.append(f"A{first}:A{last}")  # 措施编号
    elif f.defect == "formula_no_cache":
        row = f.defect_rows[0] + 2
        acts.rows[row - 1][LEDGER_HEADER.index("数值")] = ledger_formula(f.ledger[f.defect_rows[0]][4])
    if f.defect == "instructions_sheet":
        data = workbook.xlsx([Sheet("填表说明", [[line] for line in LEDGER_INSTRUCTIONS]), acts, targets])
    elif f.defect == "hidden_sheet":
        stale = [(m, k, r, d, v + 5, note, None) for m, k, r, d, v, note, _ in f.ledger]
        old, _ = _ledger_sheets(f, stale)
        old.title, old.hidden = "台账(旧)", True
        data = workbook.xlsx([old, acts, targets])
    else:
        data = workbook.xlsx([acts, targets])
    if f.defect == "corrupt":
        return workbook.truncated(data)
    if f.defect == "unreadable_cell":
        d = f.ledger[-1][3]
        return workbook.with_unreadable_cell(data, 1, f"D{len(f.ledger) + 1}", f"{d.year}-13-{d.day:02d}")
    if f.defect == "encrypted":
        return compound_file.encrypted_workbook(data)
    return data
