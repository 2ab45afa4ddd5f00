"""The benchmark report: memory growth across scales, where each target stands, and the table.

Every ratio is measured side by side in one run on one machine (named in the table's
header), against a stated baseline:
- extract time / bare time: the pipeline's extraction of the HTTP sources against a bare
  `requests` loop fetching the very same URLs (GET + JSON decode, nothing else);
- load rate / duckdb rate: rows inserted per second against DuckDB's own `read_json` of the
  very same landed files into a fresh table;
- dbt / direct SQL: `dbt build` against the compiled SQL of the same models and tests run
  directly in DuckDB;
- gate / dbt build: the quality gate's own time against the build it audits;
- incremental / full: wall time of the pipeline's stages (each its own process, imports
  included) after ~1 % of records changed, against the full refresh; "warm writer": both runs
  again with the writer's stages (load, dbt, gate, publish) forked from a process that
  imported dbt and Great Expectations first, as the deployment's writer worker does;
- empty run: a run right after the incremental one with nothing new anywhere (worker
  seconds: every stage process it starts, interpreter start-up included);
- full refresh / bare tools: the full refresh's wall against the bare tools doing the same
  work (bare fetch + bare drop parse + DuckDB read_json + the dbt SQL run directly);
- upload -> published: under the real scheduler, from the end of an upload's quiet period
  to the publish a reader opens (bench/freshness.py);
- airflow wall / task sum: `make pipeline`'s wall time against the sum of the task durations
  Airflow recorded in its own metadata.
A stage that failed, a gate that blocked or a measurement that could not run shows as such,
never as a time.
"""

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


def _state(s: dict) -> str | None:
    """Why a scale's timings are not the pipeline's, when they are not."""
    if s.get("failed"):
        return "FAILED"
    gates = [s.get(run, {}).get("stages", {}).get("gate", {}) for run in ("full_refresh", "incremental_run")]
    if any(g and not g.get("passed", True) for g in gates):
        return "GATE BLOCKED"
    return None


def table(report: dict) -> str:
    rows = [("measure", *[f"SF{s['scale']:g}" for s in report["scales"]], "target")]
    rows += [
        (label, *[_value(s, value, timing) for s in report["scales"]], target)
        for label, value, target, timing in MEASURES
    ]
    machine = report.get("machine", {})
    header = [
        f"machine: {machine.get('cpus')} CPUs, {machine.get('memory_gb', '?')} GB, Python {machine.get('python')}, "
        f"{machine.get('platform')}",
        "baselines: see bench/report.py (each ratio against the same work done by the bare tool, in the same run)",
        "",
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines = header + lines
    growth = report.get("memory_growth", {}).get("peak_rss_ratio", {})
    if len(growth) > 1:
        lines.append("")
        lines.append(f"peak RSS relative to {report['memory_growth']['relative_to']}:")
        for scale, g in growth.items():
            lines.append(f"  {scale}: " + ", ".join(f"{st} {g[st]:.2f}x" for st in STAGES))
    return "\n".join(lines)


def _value(s: dict, value, timing: bool) -> str:
    if timing and _state(s):
        return _state(s)
    try:
        return value(s)
    except (KeyError, TypeError, ZeroDivisionError):
        return "-"


def _airflow(s: dict, key: str) -> str:
    a = s["airflow"]
    return "FAILED" if not a.get("ok") else _f(a[key])


def _latency(r: dict) -> str:
    if r.get("failed"):
        return "FAILED"
    return f"{r['change_to_publish_seconds']:.0f} (+{r['cadence_seconds'] / 60:.0f} min cadence)"


def _freshness(r: dict) -> str:
    if r.get("failed"):
        return "FAILED"
    f = r["upload_to_published_seconds"]
    return f"{f['median']:.0f}, {f['max']:.0f} (quiet {r['quiet_seconds']:.0f})"


def headline(scales: list[dict]) -> dict:
    """The figures issue 27 asks for at the top of the report, each from the largest scale
    that measured it (its scale beside it)."""

    def pick(path: tuple[str, ...]):
        for s in sorted(scales, key=lambda s: -s["scale"]):
            value = s
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                return {"value": value, "scale": s["scale"]}
        return None

    found = {
        "freshness": ("upload_to_published_seconds", ("freshness", "upload_to_published_seconds", "max")),
        "incremental": ("fraction_of_full", ("incremental", "fraction_of_full")),
        "incremental_warm_writer": ("fraction_of_full", ("warm_writer", "fraction_of_full")),
        "full_refresh": ("over_bare_tools", ("full_refresh_over_bare", "over_bare_tools")),
        "empty_run": ("seconds", ("empty_run", "seconds")),
    }
    out: dict = {}
    for section, (key, path) in found.items():
        got = pick(path)
        out[section] = {key: got and got["value"], "scale": got and got["scale"]}
    if out["freshness"]["scale"] is not None:  # the median of the same uploads beside their max
        at = next(s for s in scales if s["scale"] == out["freshness"]["scale"])
        out["freshness"]["median_seconds"] = at["freshness"]["upload_to_published_seconds"]["median"]
        out["freshness"] = {k: out["freshness"][k] for k in ("upload_to_published_seconds", "median_seconds", "scale")}
    return out


def _warm(r: dict) -> str:
    if r.get("failed"):
        return "FAILED"
    return f"{r['fraction_of_full']:.2f} ({r['incremental_wall_seconds']:.1f} / {r['full_wall_seconds']:.1f} s)"


def _limited(r: dict) -> str:
    if not r.get("ok"):
        return f"FAILED at {r.get('failed_stage')} ({r['limit']})"
    peak = max(v for v in r["peak_rss_mb"].values() if v)
    return f"ok at {r['limit']}: {r['wall_seconds']:.0f}s, peak {peak:.0f} MB"


def _m(label: str, value, target: str = "", timing: bool = True) -> tuple:
    """One line of the table: its label, its value from one scale's report, its target, and
    whether it is a timing (a scale whose run did not complete shows why instead)."""
    return (label, value, target, timing)


MEASURES = [
    _m(
        "world versions: visits+orders",
        lambda s: f"{s['world_versions']['stop_visits'] + s['world_versions']['orders']:,}",
        timing=False,
    ),
    _m("world versions: all", lambda s: f"{sum(s['world_versions'].values()):,}", timing=False),
    _m("drops at scale", lambda s: f"SF{s['drops_scale']:g}", timing=False),
    _m("simulator peak RSS MB", lambda s: _f(s["simulator_peak_rss_mb"], "{:.0f}"), timing=False),
    _m("drops: files", lambda s: f"{s['drops']['files']:,}", timing=False),
    _m("drops: isolated stage s", lambda s: _f(s["drops"]["isolated_seconds"])),
    _m("drops: bare parse s (1 process)", lambda s: _f(s["drops"]["bare_parse_seconds"])),
    _m("drops: isolated / bare parse", lambda s: _f(s["drops"]["isolated_over_bare_parse"]), "<= 1.5 @SF10"),
    _m("drops: openpyxl / calamine read", lambda s: _f(s["drops"]["openpyxl_over_calamine"])),
    _m("extract records", lambda s: f"{s['extract']['records']:,}"),
    _m("extract rec/s (pipeline)", lambda s: _f(s["extract"]["records_per_s"], "{:,.0f}")),
    _m("extract rec/s (bare requests)", lambda s: _f(s["extract"]["bare_records_per_s"], "{:,.0f}")),
    _m("extract time / bare time", lambda s: _f(s["extract"]["pipeline_over_bare_time"]), "<= 1.25 @SF100"),
    _m("raw load rows/s", lambda s: _f(s["raw_load"]["rows_per_s"], "{:,.0f}")),
    _m("duckdb read_json rows/s", lambda s: _f(s["raw_load"]["duckdb_rows_per_s"], "{:,.0f}")),
    _m("load rate / duckdb rate", lambda s: _f(s["raw_load"]["share_of_duckdb_rate"]), ">= 0.5 @SF1,SF10"),
    _m("dbt build s", lambda s: _f(s["dbt"]["build_seconds"])),
    _m("same SQL direct s", lambda s: _f(s["dbt"]["direct_sql_seconds"])),
    _m("dbt / direct SQL", lambda s: _f(s["dbt"]["dbt_overhead_ratio"])),
    _m(
        "slowest model",
        lambda s: "{name} {seconds:.2f}s".format(**s["dbt"]["slowest_models"][0]),
    ),
    _m(
        "gate passed (full, incremental)",
        lambda s: "{} {}".format(
            s["full_refresh"]["stages"]["gate"]["passed"], s["incremental_run"]["stages"]["gate"]["passed"]
        ),
        "True True",
        timing=False,
    ),
    _m("gate s (+import s)", lambda s: f"{s['gate']['gate_seconds']:.2f} (+{s['gate']['import_seconds']:.1f})"),
    _m("gate / dbt build", lambda s: _f(s["gate"]["gate_over_dbt"]), "<= 0.25 @SF10"),
    _m("full refresh wall s", lambda s: _f(s["incremental"]["full_wall_seconds"])),
    _m(
        "incremental wall s (records)",
        lambda s: f"{s['incremental']['incremental_wall_seconds']:.2f} ({s['incremental']['records_changed']:,})",
    ),
    _m("incremental / full", lambda s: _f(s["incremental"]["fraction_of_full"]), "<= 0.10 @SF10, <= 0.05 @SF100"),
    # the same without each process's start-up and imports
    _m("incremental / full, work only", lambda s: _f(s["incremental"]["fraction_of_full_work_only"])),
    # both runs again with the writer's stages forked from a warm writer (as deployed:
    # pipeline/writer_worker.py imports dbt and GX before it forks a task)
    _m("incremental / full, warm writer", lambda s: _warm(s["warm_writer"]), "<= 0.10 @SF10, <= 0.05 @SF100"),
    _m(
        "warm writer incremental stage s",
        lambda s: " ".join(f"{k[:2]}{v:.1f}" for k, v in s["warm_writer"]["incremental_stage_seconds"].items()),
    ),
    _m(
        "empty run s (stages)",
        lambda s: "{:.2f} ({})".format(
            s["empty_run"]["seconds"], " ".join(f"{k[:2]}{v:.1f}" for k, v in s["empty_run"]["stage_seconds"].items())
        ),
        "< 2",
    ),
    _m("full refresh / bare tools", lambda s: _f(s["full_refresh_over_bare"]["over_bare_tools"]), "<= 3 @SF10"),
    _m("bare tools s", lambda s: _f(s["full_refresh_over_bare"]["bare_tools_seconds"])),
    _m(
        "incremental stage s",
        lambda s: " ".join(f"{k[:2]}{v:.1f}" for k, v in s["incremental"]["stage_seconds"].items()),
    ),
    _m(
        "dashboard first page s (warm)",
        lambda s: "{} ({})".format(
            _f(s["dashboard"].get("first_page_seconds")), _f(s["dashboard"].get("first_page_warm_seconds"))
        ),
    ),
    _m("dashboard explorer page s", lambda s: _f(s["dashboard"].get("explorer_page_seconds"))),
    _m(
        "explorer queries ms (max)",
        lambda s: "{} ({})".format(
            _f(s["dashboard"].get("explorer_query_ms_median")), _f(s["dashboard"].get("explorer_query_ms_max"))
        ),
    ),
    _m(
        "value lineage ms (max)",
        lambda s: "{} ({})".format(
            _f(s["dashboard"].get("value_lineage_ms_median")), _f(s["dashboard"].get("value_lineage_ms_max"))
        ),
        "<= 1000 @SF10",
    ),
    _m("airflow wall s", lambda s: _airflow(s, "wall_seconds")),
    _m("airflow sum of tasks s", lambda s: _airflow(s, "sum_task_seconds")),
    _m("airflow wall / task sum", lambda s: _airflow(s, "wall_over_task_sum"), "<= 1.3"),
    _m(
        "reader latency s (change->publish)",
        lambda s: _latency(s["reader_latency"]),
        "cadence + <= 180",
        timing=False,
    ),
    _m("upload -> published s (median, max)", lambda s: _freshness(s["freshness"]), "<= 60", timing=False),
    _m("dag folder parse s", lambda s: _f(s["airflow"]["dag_parse"]["parse_seconds"])),
    _m("peak RSS MB extract (APIs only)", lambda s: _f(s["extract"]["api_peak_rss_mb"], "{:.0f}")),
    *(
        _m(
            f"peak RSS MB {st}",
            lambda s, st=st: _f(s["memory_peak_rss_mb"][st], "{:.0f}"),
            {"extract": "<= 1.5x SF1 @SF100", "load": "<= 1.5x SF1 @SF100", "dbt": "<= 2048 @SF100"}.get(st, ""),
        )
        for st in STAGES
    ),
    _m("memory-limited full refresh", lambda s: _limited(s["memory_limited"]), "completes at 1GB @SF100", timing=False),
]
