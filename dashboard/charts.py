"""Altair (Vega-Lite) charts of published values; axis numbers written like the tables' (万, ¥, %)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.i18n import ZH, label, number, vega_number_expr

# The tile-grid map: one square per prefecture-level unit, roughly where it lies (column west
# → east, row north → south). The four province-administered units have their own squares.
TILES = {
    "420300": (0, 0),  # 十堰
    "420600": (1, 0),  # 襄阳
    "421300": (2, 0),  # 随州
    "429021": (0, 1),  # 神农架林区
    "420800": (1, 1),  # 荆门
    "429006": (2, 1),  # 天门
    "420900": (3, 1),  # 孝感
    "421100": (4, 1),  # 黄冈
    "420500": (0, 2),  # 宜昌
    "421000": (1, 2),  # 荆州
    "429005": (2, 2),  # 潜江
    "429004": (3, 2),  # 仙桃
    "420100": (4, 2),  # 武汉
    "420700": (5, 2),  # 鄂州
    "422800": (0, 3),  # 恩施
    "421200": (4, 3),  # 咸宁
    "420200": (5, 3),  # 黄石
}


def _value_axis(unit: str, lang: str) -> alt.Axis:
    """Axis labels written like the tables; counts get whole-number ticks only."""
    whole = {"tickMinStep": 1} if unit in ("count", "person_times") else {}
    return alt.Axis(labelExpr=vega_number_expr(unit, lang), **whole)


def short_name(name: str) -> str:
    """A prefecture's name short enough for its square: 武汉市 → 武汉, 恩施土家族苗族自治州 → 恩施州."""
    if name.endswith("自治州"):
        return name[:2] + "州"
    return name[:-1] if name.endswith("市") and len(name) > 2 else name


def trend(df: pd.DataFrame, unit: str, metric_name: str, lang: str = ZH, pick: str | None = None) -> alt.Chart:
    """Values by month (one region), as published. `pick`: the name of a click selection of one
    point (its month), which `st.altair_chart(on_select=...)` hands back (`picked_month`)."""
    d = df.assign(label=[number(v, unit, lang) for v in df["value"]], month=df["period_month"].astype(str).str[:7])
    chart = (
        alt.Chart(d, title=metric_name)
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonth(period_month):T", title=label("month", lang), axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("value:Q", title=metric_name, axis=_value_axis(unit, lang)),
            tooltip=[
                alt.Tooltip("month:N", title=label("month", lang)),
                alt.Tooltip("label:N", title=label("value", lang)),
            ],
        )
        .properties(height=320, description=f"{metric_name}: {len(d)} months")
    )
    return chart.add_params(alt.selection_point(name=pick, fields=["month"], on="click")) if pick else chart


def picked_month(event, pick: str):
    """The month (first day) of the point picked on a `trend(..., pick=pick)` chart, or None."""
    from datetime import date

    try:
        points = (event or {}).get("selection", {}).get(pick) or []
    except AttributeError:
        return None
    text = str(points[0].get("month", "")) if points and isinstance(points[0], dict) else ""
    try:
        return date.fromisoformat(f"{text[:7]}-01")
    except ValueError:
        return None


def ranking(df: pd.DataFrame, unit: str, metric_name: str, lang: str = ZH) -> alt.Chart:
    """Regions of one month, largest first."""
    d = df.assign(label=[number(v, unit, lang) for v in df["value"]])
    bars = (
        alt.Chart(d, title=metric_name)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
            x=alt.X("value:Q", title=metric_name, axis=_value_axis(unit, lang)),
            tooltip=[
                alt.Tooltip("name:N", title=label("region", lang)),
                alt.Tooltip("label:N", title=label("value", lang)),
            ],
        )
    )
    text = bars.mark_text(align="left", dx=3).encode(text="label:N")
    return (bars + text).properties(height=max(120, 24 * len(d)), description=f"{metric_name}: {len(d)} regions")


def tile_map(df: pd.DataFrame, names: dict[str, str], unit: str, metric_name: str, lang: str = ZH) -> alt.Chart:
    """The 17 prefecture-level units as squares, coloured by value (grey where there is no row)."""
    values = dict(zip(df["region_code"], df["value"], strict=True))
    rows = []
    for code, (col, row) in TILES.items():
        value = values.get(code)
        rows.append(
            {
                "code": code,
                "name": short_name(names.get(code, code)),
                "full_name": names.get(code, code),
                "col": col,
                "row": row,
                "value": value,
                "label": number(value, unit, lang) if value is not None else label("no_data", lang),
            }
        )
    d = pd.DataFrame(rows)
    base = alt.Chart(d).encode(
        x=alt.X("col:O", axis=None),
        y=alt.Y("row:O", axis=None),
        tooltip=[
            alt.Tooltip("name:N", title=label("region", lang)),
            alt.Tooltip("label:N", title=label("value", lang)),
        ],
    )
    # every square grey first; the ones with a value are coloured on top (Vega-Lite drops
    # null values from a colour scale, so a "no data" square needs its own layer)
    background = base.mark_rect(stroke="white", strokeWidth=3, cornerRadius=4, color="#d9d9d9")
    tiles = (
        base.transform_filter("isValid(datum.value)")
        .mark_rect(stroke="white", strokeWidth=3, cornerRadius=4)
        .encode(
            color=alt.Color(
                "value:Q",
                scale=alt.Scale(scheme="blues"),
                title=metric_name,
                legend=alt.Legend(labelExpr=vega_number_expr(unit, lang)),
            )
        )
    )
    name_text = base.mark_text(baseline="bottom", dy=-2, fontSize=13, fontWeight="bold").encode(text="name:N")
    value_text = base.mark_text(baseline="top", dy=4, fontSize=12).encode(text="label:N")
    return (background + tiles + name_text + value_text).properties(
        width=6 * 110, height=4 * 90, description=f"{metric_name}: tile map of 17 prefectures"
    )


def completion(df: pd.DataFrame, lang: str = ZH) -> alt.Chart:
    """One bar per target: completion ratio, with the 100 % line."""
    d = df.assign(pct=df["completion_ratio"].fillna(0.0))
    bars = (
        alt.Chart(d)
        .mark_bar()
        .encode(
            y=alt.Y("target_label:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
            x=alt.X("pct:Q", title=label("completion", lang), axis=alt.Axis(format=".0%")),
            color=alt.condition("datum.pct >= 1", alt.value("#2e7d32"), alt.value("#1f77b4")),
            tooltip=[
                alt.Tooltip("target_label:N", title=label("target", lang)),
                alt.Tooltip("pct:Q", title=label("completion", lang), format=".1%"),
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="#c62828", strokeDash=[4, 3]).encode(x="x:Q")
    return (bars + rule).properties(height=max(120, 28 * len(d)), description=f"completion of {len(d)} targets")
