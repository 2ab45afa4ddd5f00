"""The benchmark report: memory growth across scales, where each target stands, and the table."""

from __future__ import annotations

STAGES = ("extract", "load", "dbt", "gate", "publish")


def add_growth(scales: list[dict]) -> dict:
    """Peak RSS of every stage relative to the smallest scale measured (SF1 in a full run)."""
    if not scales:
        return {}
    base = min(scales, key=lambda s: s["scale"])
    growth = {}
    for s in scales:
        growth[f"sf{s['scale']:g}"] = {
            st: round(s["memory_peak_rss_mb"][st] / base["memory_peak_rss_mb"][st], 2) for st in STAGES
        }
    return {"relative_to": f"sf{base['scale']:g}", "peak_rss_ratio": growth}


def _f(x, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def table(report: dict) -> str:
    rows = [("measure", *[f"SF{s['scale']:g}" for s in report["scales"]], "target")]

    def row(label: str, fn, target: str = "") -> None:
        vals = []
        for s in report["scales"]:
            try:
                vals.append(fn(s))
            except (KeyError, TypeError, ZeroDivisionError):
                vals.append("-")
        rows.append((label, *vals, target))

    row(
        "world versions: visits+orders",
        lambda s: f"{s['world_versions']['stop_visits'] + s['world_versions']['orders']:,}",
    )
    row("world versions: all", lambda s: f"{sum(s['world_versions'].values()):,}")
    row("drops at scale", lambda s: f"SF{s['drops_scale']:g}")
    row("simulator peak RSS MB", lambda s: _f(s["simulator_peak_rss_mb"], "{:.0f}"))
    row("extract records", lambda s: f"{s['extract']['records']:,}")
    row("extract rec/s (pipeline)", lambda s: _f(s["extract"]["records_per_s"], "{:,.0f}"))
    row("extract rec/s (bare requests)", lambda s: _f(s["extract"]["bare_records_per_s"], "{:,.0f}"))
    row("extract time / bare time", lambda s: _f(s["extract"]["pipeline_over_bare_time"]), "<= 2")
    row("raw load rows/s", lambda s: _f(s["raw_load"]["rows_per_s"], "{:,.0f}"))
    row("duckdb read_json rows/s", lambda s: _f(s["raw_load"]["duckdb_rows_per_s"], "{:,.0f}"))
    row("load rate / duckdb rate", lambda s: _f(s["raw_load"]["share_of_duckdb_rate"]), ">= 0.5")
    row("dbt build s", lambda s: _f(s["dbt"]["build_seconds"]))
    row("same SQL direct s", lambda s: _f(s["dbt"]["direct_sql_seconds"]))
    row("dbt / direct SQL", lambda s: _f(s["dbt"]["dbt_overhead_ratio"]))
    row(
        "slowest model",
        lambda s: "{name} {seconds:.2f}s".format(**s["dbt"]["slowest_models"][0]),
    )
    row(
        "gate passed (full, incremental)",
        lambda s: "{} {}".format(
            s["full_refresh"]["stages"]["gate"]["passed"], s["incremental_run"]["stages"]["gate"]["passed"]
        ),
        "True True",
    )
    row("gate s (+import s)", lambda s: f"{s['gate']['gate_seconds']:.2f} (+{s['gate']['import_seconds']:.1f})")
    row("gate / dbt build", lambda s: _f(s["gate"]["gate_over_dbt"]), "<= 0.25 @SF10")
    row("full refresh wall s", lambda s: _f(s["incremental"]["full_wall_seconds"]))
    row(
        "incremental wall s (records)",
        lambda s: f"{s['incremental']['incremental_wall_seconds']:.2f} ({s['incremental']['records_changed']:,})",
    )
    row("incremental / full", lambda s: _f(s["incremental"]["fraction_of_full"]), "<= 0.10 @SF10")
    row(
        "dashboard first page s (warm)",
        lambda s: "{} ({})".format(
            _f(s["dashboard"].get("first_page_seconds")), _f(s["dashboard"].get("first_page_warm_seconds"))
        ),
    )
    row("dashboard explorer page s", lambda s: _f(s["dashboard"].get("explorer_page_seconds")))
    row(
        "explorer queries ms (max)",
        lambda s: "{} ({})".format(
            _f(s["dashboard"].get("explorer_query_ms_median")), _f(s["dashboard"].get("explorer_query_ms_max"))
        ),
    )
    row("airflow wall s", lambda s: _f(s["airflow"]["wall_seconds"]))
    row("airflow sum of tasks s", lambda s: _f(s["airflow"]["sum_task_seconds"]))
    row("airflow wall / task sum", lambda s: _f(s["airflow"]["wall_over_task_sum"]), "<= 1.5")
    row("dag folder parse s", lambda s: _f(s["airflow"]["dag_parse"]["parse_seconds"]))
    row("peak RSS MB extract (APIs only)", lambda s: _f(s["extract"]["api_peak_rss_mb"], "{:.0f}"))
    for st in STAGES:
        target = "<= 1.5x SF1 @SF100" if st in ("extract", "load") else ""
        row(f"peak RSS MB {st}", lambda s, st=st: _f(s["memory_peak_rss_mb"][st], "{:.0f}"), target)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    growth = report.get("memory_growth", {}).get("peak_rss_ratio", {})
    if len(growth) > 1:
        lines.append("")
        lines.append(f"peak RSS relative to {report['memory_growth']['relative_to']}:")
        for scale, g in growth.items():
            lines.append(f"  {scale}: " + ", ".join(f"{st} {g[st]:.2f}x" for st in STAGES))
    return "\n".join(lines)
