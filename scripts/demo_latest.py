"""`make dashboard` / `make rollback`: run a command on the published file a user expects.

    python scripts/demo_latest.py <command> [args…]

With PLAN_METRICS_DATA_DIR unset, the command gets the folder of the demo world started last
(`data/demo/latest`, see simulator/demo.py) when there is one, else `data/` as before the
demos kept their worlds apart. It prints which published file that is, then execs the command.
"""

from __future__ import annotations

import os
import sys

from settings import Settings
from simulator import demo


def choose(settings: Settings) -> tuple[dict[str, str], str]:
    """The command's environment and the line that says which published file it gets."""
    env = settings.child_env()
    if settings.variable("PLAN_METRICS_DATA_DIR"):
        return env, f"Published file: {settings.published_db}  (PLAN_METRICS_DATA_DIR)"
    latest = demo.latest_data_dir(env)
    if latest is None:
        return env, f"Published file: {settings.published_db}  (PLAN_METRICS_DATA_DIR unset, no demo world started)"
    marker = demo.read_marker(latest) or {}
    world = marker.get("world", latest.name)
    line = (
        f"Published file: {settings.with_data_dir(latest).published_db}  (the demo world started last, {world}: "
        f"{demo.demo_root(env) / demo.LATEST}; set PLAN_METRICS_DATA_DIR for another)"
    )
    return {**env, "PLAN_METRICS_DATA_DIR": str(latest)}, line


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    env, line = choose(Settings.from_env())
    print(line, flush=True)
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
