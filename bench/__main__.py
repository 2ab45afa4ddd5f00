"""`python -m bench [--quick] [--scales 1,10,100] [--out report.json] [--no-airflow]`

Runs every scale one after another (never in parallel: each measures the whole machine),
writes the JSON report (default `$PLAN_METRICS_DATA_DIR/bench/report-<utc>.json`, plus
`latest.json` beside it) and prints the table. Work files live under `--work-dir`
(default `$PLAN_METRICS_DATA_DIR/bench/work`); the generated worlds are cached there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import add_growth, headline, table
from bench.run import run_scale

FULL_SCALES = "1,10,100"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="SF1 only (a smoke run); --scales overrides the scale")
    p.add_argument("--scales", default="", help=f"comma-separated scale factors (default {FULL_SCALES})")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default="", help="the JSON report's path")
    p.add_argument("--work-dir", default="")
    p.add_argument("--no-airflow", action="store_true", help="skip the end-to-end run under Airflow")
    p.add_argument("--no-latency", action="store_true", help="skip the reader latency under the real scheduler")
    p.add_argument(
        "--memory-limit",
        default="1GB",
        help="also run the full refresh with every DuckDB connection held to this limit, at scales >= 100 (default 1GB)",
    )
    args = p.parse_args(argv)
    scales = [float(x) for x in (args.scales or ("1" if args.quick else FULL_SCALES)).split(",") if x.strip()]
    from settings import Settings

    data = Settings.from_env().data_dir
    work = Path(args.work_dir or data / "bench" / "work").resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or data / "bench" / f"report-{stamp}.json").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "started_at": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "scales": [],
    }
    for scale in scales:
        print(f"bench: scale factor {scale:g} ...", flush=True)
        started = time.perf_counter()
        result = run_scale(
            scale,
            work,
            seed=args.seed,
            airflow=not args.no_airflow,
            memory_limit=args.memory_limit if scale >= 100 else None,
            latency=not args.no_latency,
            # five uploads under the real scheduler take ~5 minutes: at the first scale only
            freshness=scale == scales[0],
        )
        result["bench_seconds"] = round(time.perf_counter() - started, 1)
        report["scales"].append(result)
        report["memory_growth"] = add_growth(report["scales"])
        out.write_text(json.dumps(report, indent=2, default=str))  # partial results survive a later failure
        print(f"bench: scale factor {scale:g} done in {result['bench_seconds']:.0f} s", flush=True)
        if result.get("failed"):
            print(f"bench: WARNING at SF{scale:g}: {result['failed']}", flush=True)
        for run in ("full_refresh", "incremental_run"):
            gate = result.get(run, {}).get("stages", {}).get("gate", {})
            if gate and not gate.get("passed", True):  # a blocked run's timings are not the pipeline's
                print(f"bench: WARNING the gate blocked the {run} at SF{scale:g}:\n{gate['message']}", flush=True)
        for problem in ("query_error", "browser_error"):
            if result.get("dashboard", {}).get(problem):
                print(f"bench: WARNING dashboard at SF{scale:g}: {result['dashboard'][problem]}", flush=True)
        if result.get("airflow") and not result["airflow"].get("ok"):
            print(f"bench: WARNING the Airflow run failed at SF{scale:g}: {result['airflow'].get('error')}", flush=True)
    report["finished_at"] = datetime.now(UTC).isoformat()
    # issue 27's figures at the top (freshness: the slowest of the uploads)
    report.update(headline(report["scales"]))
    text = table(report)
    report["table"] = text
    out.write_text(json.dumps(report, indent=2, default=str))
    if not args.out:
        (out.parent / "latest.json").write_text(out.read_text())
    print(text)
    print(f"\nreport: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
