"""Start and stop the simulator as a separate process (for `make run`, tests and benchmarks).

The child gets its own process group, so stopping it stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from settings import REPO


class SimulatorProcess:
    def __init__(
        self,
        state_dir: Path,
        seed: int = 42,
        scale: float = 1.0,
        clock: str | None = None,
        faults: list[str] | None = None,
        port: int = 0,
        log_path: Path | None = None,
        incoming: Path | None = None,
        drops_scale: float | None = None,
    ):
        self.state_dir = Path(state_dir)
        self.args = [
            "--seed",
            str(seed),
            "--scale",
            str(scale),
            "--port",
            str(port),
            "--state-dir",
            str(self.state_dir),
        ]
        if clock:
            self.args += ["--clock", clock]
        if incoming:  # the S4/S5 drop folder, rewritten whenever the clock moves
            self.args += ["--incoming", str(incoming)]
        if drops_scale:
            self.args += ["--drops-scale", str(drops_scale)]
        for f in faults or []:
            self.args += ["--faults", f]
        self.ready_file = self.state_dir / "ready.json"
        self.log_path = Path(log_path or self.state_dir / "simulator.log")
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self, timeout: float = 600) -> dict:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "serve", *self.args, "--ready-file", str(self.ready_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulator exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"simulator not ready after {timeout}s; see {self.log_path}")
            time.sleep(0.1)
        self.info = json.loads(self.ready_file.read_text())
        return self.info

    def source(self, name: str) -> dict:
        return self.info["sources"][name]

    def airflow_connections(self) -> dict[str, str]:
        """AIRFLOW_CONN_* environment variables (JSON form) pointing at the simulated sources."""
        env = {}
        for name, src in self.info["sources"].items():
            scheme, rest = src["base_url"].split("://", 1)
            host, port = rest.rsplit(":", 1)
            env[f"AIRFLOW_CONN_{name.upper()}"] = json.dumps(
                {"conn_type": "http", "host": host, "port": int(port), "schema": scheme, "password": src["token"]}
            )
        return env

    def set_clock(self, clock: str) -> None:
        url = next(iter(self.info["sources"].values()))["base_url"]
        # generous timeout: with --incoming the simulator rewrites the drop folder first
        resp = requests.post(f"{url}/_sim/clock", json={"clock": clock}, timeout=300)
        resp.raise_for_status()
        self.info["clock"] = resp.json()["clock"]

    def current_clock(self) -> str:
        """Ask the running simulator for its clock (a user may have moved it through /_sim/clock)."""
        url = next(iter(self.info["sources"].values()))["base_url"]
        resp = requests.get(f"{url}/_sim/clock", timeout=30)
        resp.raise_for_status()
        self.info["clock"] = resp.json()["clock"]
        return self.info["clock"]

    @property
    def clock(self) -> str:
        """The simulated now (ISO 8601, Beijing time)."""
        return self.info["clock"]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
