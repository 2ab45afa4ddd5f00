"""`python -m dashboard [--port N] [--address HOST]` (`make dashboard`): serve the dashboard.

It reads `$PLAN_METRICS_DATA_DIR/published/plan_metrics.duckdb` (default `./data`), read-only.
Streamlit runs with no telemetry and no file watcher: the app never reaches the network, and
a new publish is picked up by the app itself, not by a restart.

Without PLAN_METRICS_DASHBOARD_AUTH it is the local demo: open, no login, and it refuses to
listen anywhere but loopback. With it (production, docker-compose.yml) every page needs a login
with an Airflow account (dashboard/auth.py) and it may listen on the container's network, behind
the TLS proxy.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def streamlit_args(port: int, address: str) -> list[str]:
    return [
        "run",
        str(HERE / "server.py"),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
        # Chinese first: CJK text asks for Noto Sans CJK SC (Debian's fonts-noto-cjk), Latin
        # text keeps Streamlit's bundled Source Sans; nothing is fetched from the network
        "--theme.font",
        "'Source Sans', 'Noto Sans CJK SC', sans-serif",
    ]


def main(argv: list[str] | None = None) -> int:
    from settings import Settings

    settings = Settings.from_env()
    p = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=int(settings.variable("DASHBOARD_PORT", "8501")))
    p.add_argument("--address", default=settings.variable("DASHBOARD_ADDRESS", "localhost"))
    args = p.parse_args(argv)
    from dashboard import auth, data

    try:
        login = auth.settings()
    except RuntimeError as e:
        print(f"refusing to start: {e}", file=sys.stderr)
        return 2
    if not login.enabled and args.address not in LOOPBACK:
        print(
            f"refusing to start: without a login (PLAN_METRICS_DASHBOARD_AUTH) the dashboard is open to anyone "
            f"who reaches it, so it listens on loopback only, not on {args.address}",
            file=sys.stderr,
        )
        return 2
    db = data.published_path()
    host = "localhost" if args.address in ("0.0.0.0", "::") else args.address
    print(f"Dashboard (看板): http://{host}:{args.port}/  — reading {db} (read-only)", flush=True)
    if login.enabled:
        print(f"  login: Airflow accounts and roles, checked by {login.airflow}", flush=True)
    else:
        print("  open, no login: the local demo, on this machine only (loopback)", flush=True)
    if not db.exists():
        print(f"  nothing is published at {db} yet: run `make run` first", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", *streamlit_args(args.port, args.address)])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
