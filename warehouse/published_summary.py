"""Prints what was published: a short table of metrics, the file's path and a query to try."""

from __future__ import annotations

import sys
import unicodedata

from settings import Settings, duck

SUMMARY_SQL = """
select c.metric_id, c.name_zh, c.name_en, c.unit, c.additive_over_months,
       count(distinct v.period_month) as months,
       max(v.period_month) as last_month,
       sum(v.value) filter (where v.region_level = 'province') as province_total,
       arg_max(v.value, v.period_month) filter (where v.region_level = 'province') as province_last_month
from metrics.metric_catalog c
join metrics.plan_metric_values v using (metric_id)
group by all
order by c.metric_id
"""

EXAMPLE = (
    "select period_month, region_code, value from metrics.plan_metric_values "
    "where metric_id = 'orders_placed' and region_level = 'prefecture' "
    "order by period_month desc, value desc limit 5"
)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "hours":
        return f"{value:,.1f}"
    return f"{value:,.2f}" if unit == "cny" else f"{value:,.0f}"


def main() -> int:
    settings = Settings.from_env()
    db = settings.published_db
    if not db.exists():
        print(f"nothing published yet at {db}", file=sys.stderr)
        return 1
    with duck.connect(db, settings, read_only=True) as conn:
        rows = conn.execute(SUMMARY_SQL).fetchall()
        publish_id, published_at = conn.execute(
            "select publish_id, published_at from metrics.publish_log order by published_at desc limit 1"
        ).fetchone()
    header = ["指标 metric", "名称", "name", "months", "湖北全省合计 province total", "最近月 last month"]
    table = [
        [
            m,
            zh,
            en,
            str(months),
            _fmt(total, unit) if additive else "(not additive over months)",
            f"{last:%Y-%m}: {_fmt(lastv, unit)}",
        ]
        for m, zh, en, unit, additive, months, last, total, lastv in rows
    ]
    widths = [max(_width(r[i]) for r in [header, *table]) for i in range(len(header))]
    print()
    print(f"Published {publish_id} at {published_at:%Y-%m-%d %H:%M:%S %Z}")
    print("  ".join(_pad(h, w) for h, w in zip(header, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(_pad(c, w) for c, w in zip(r, widths, strict=False)))
    print(f"\nPublished database: {db}")
    print("Query it (read-only), e.g. with Python:")
    print(
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{db}', read_only=True).sql('''{EXAMPLE}'''))\""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
