"""Command line of the source simulator.

    python -m simulator serve --seed 42 --scale 1 --port 8700 --ready-file data/sim/ready.json \
        [--incoming incoming] [--faults scipop_platform:shift=0.3,missing=0.01 ...]
    python -m simulator truth --seed 42 --scale 1 --clock 2021-06-30T23:59:59+08:00 [--sources S1,S3]
    python -m simulator drops --incoming incoming --seed 42 --scale 1 --clock 2021-06-30T23:59:59+08:00

`serve` generates the world into SQLite under --state-dir (reused while seed, scale and
generator code are unchanged), serves S3 kechuang_orders on --port, S1 scipop_platform on
--port+1 and S2 kechuang_roadshows on --port+2 (0: free ports), and prints (and writes to
--ready-file) each source's base URL and token; tokens are random per start unless given
in PLAN_SIM_TOKEN_<SOURCE>, so none lives in the repository. With --incoming it also
writes the S4/S5 file drops due at the clock, and again whenever POST /_sim/clock moves it.
Faults (all off by default) are listed in simulator/faults.py; `--faults` for the drop
sources (`rural_centre_reports:broken=0.05`, `plan_ledger:broken=0.2`) shape the files
`--incoming` receives, and `truth --faults ...` leaves out what they make a correct
pipeline quarantine.
`truth` prints every metric's true value (CSV); `drops` writes the file drops once.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from simulator import truth
from simulator.server import SimState, start_servers
from simulator.sources import all_versions, generator_code, http_sources, parse_specs, write_drops
from simulator.store import FORMAT as STORE_FORMAT
from simulator.store import VersionStore
from simulator.world import WorldConfig, bj_iso, parse_ts


def _fingerprint(cfg: WorldConfig) -> str:
    code = generator_code()
    return f"{cfg.seed}/{cfg.scale:g}/{STORE_FORMAT}/{hashlib.sha256(code).hexdigest()[:16]}"


def serve(args) -> int:
    cfg = WorldConfig(seed=args.seed, scale=args.scale)
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    store = VersionStore(state_dir / f"world-{cfg.seed}-{cfg.scale:g}.sqlite")
    fp = _fingerprint(cfg)
    if not store.is_built_for(fp):
        n = store.rebuild(fp, all_versions(cfg))
        print(f"generated {n} record versions (seed {cfg.seed}, scale {cfg.scale:g})", flush=True)
    state = SimState(store=store, clock=parse_ts(args.clock))
    faults = parse_specs(args.faults)
    if args.incoming:
        incoming = Path(args.incoming)
        # --drops-scale: the spreadsheets at another scale than the APIs (rendering one costs
        # ~10 ms, so a benchmark at SF100 keeps its 150 k report files at a smaller scale)
        dcfg = WorldConfig(seed=cfg.seed, scale=args.drops_scale or cfg.scale)
        state.on_clock = lambda clock: write_drops(dcfg, incoming, clock, faults)
        state.on_clock(state.clock)
    from settings import Settings

    settings = Settings.from_env()  # `serve` is the command's edge
    for source in (s.name for s in http_sources()):
        env_token = settings.variable(f"PLAN_SIM_TOKEN_{source.upper()}")
        if env_token:
            state.tokens[source] = env_token
    state.faults = {s.name: faults[s.name] for s in http_sources() if s.name in faults}
    servers = start_servers(state, args.host, args.port)
    ready = {
        "clock": bj_iso(state.clock),
        "seed": cfg.seed,
        "scale": cfg.scale,
        "sources": {
            name: {"base_url": f"http://{args.host}:{srv.server_address[1]}", "token": state.tokens[name]}
            for name, srv in servers.items()
        },
        "pid": os.getpid(),
    }
    for name, info in ready["sources"].items():
        print(f"{name:18s} {info['base_url']}  token={info['token']}", flush=True)
    if args.ready_file:
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(json.dumps(ready, indent=2))
        os.replace(tmp, args.ready_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for srv in servers.values():
        srv.shutdown()
    return 0


def print_truth(args) -> int:
    cfg = WorldConfig(seed=args.seed, scale=args.scale)
    faults = parse_specs(args.faults)
    sources = tuple(x.strip() for x in args.sources.split(",") if x.strip())
    values = truth.metric_values(cfg, parse_ts(args.clock), sources=sources, faults=faults)
    out = csv.writer(sys.stdout)
    out.writerow(["metric_id", "region_code", "region_level", "period_month", "value"])
    for (metric_id, region, month), (level, value) in sorted(values.items()):
        out.writerow([metric_id, region, level, month, repr(value)])
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve the simulated sources over HTTP")
    t = sub.add_parser("truth", help="print the true metric values (CSV)")
    d = sub.add_parser("drops", help="write the S4/S5 file drops due at the clock")
    for q in (s, t, d):
        q.add_argument("--seed", type=int, default=42)
        q.add_argument("--scale", type=float, default=1.0)
        q.add_argument("--clock", default="2021-12-31T23:59:59+08:00", help="simulated now (ISO 8601)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="first port (one per source); 0 picks free ports")
    s.add_argument("--state-dir", default="data/sim")
    s.add_argument("--ready-file", default="")
    s.add_argument("--incoming", default="", help="also write the S4/S5 drops here (and on every clock move)")
    s.add_argument("--drops-scale", type=float, default=0, help="scale of the S4/S5 drops (default: --scale)")
    d.add_argument("--incoming", required=True)
    d.add_argument("--faults", action="append", default=[], help="drop faults, e.g. plan_ledger:broken=0.2")
    t.add_argument("--sources", default=",".join(truth.ALL_SOURCES), help="comma-separated, e.g. S1,S3")
    t.add_argument("--faults", action="append", default=[], help="as for serve: leaves out quarantined records")
    s.add_argument(
        "--faults",
        action="append",
        default=[],
        metavar="SOURCE:k=v,...",
        help="e.g. kechuang_orders:rate_limit=0.1,server_error=0.05,drop=0.05,slow=0.1",
    )
    args = p.parse_args(argv)
    if args.cmd == "drops":
        cfg = WorldConfig(seed=args.seed, scale=args.scale)
        written = write_drops(cfg, Path(args.incoming), parse_ts(args.clock), parse_specs(args.faults))
        print(f"{len(written)} files in {args.incoming}")
        return 0
    return serve(args) if args.cmd == "serve" else print_truth(args)


if __name__ == "__main__":
    sys.exit(main())
