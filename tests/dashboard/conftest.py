"""The dashboard as a reader meets it: a Streamlit server on a published file, in Chromium.

The browser is Debian's `chromium` with `fonts-noto-cjk` (installed through
scripts/system_packages.sh when missing, so `make test` on a fresh machine gets them);
Playwright drives /usr/bin/chromium (nothing downloads a browser). Every server gets a free
port and its own process group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bench.dashboard import CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """`python -m dashboard` on a data folder, as `make dashboard` starts it."""

    def __init__(self, data_dir: Path, log: Path):
        self.data_dir, self.log = data_dir, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> DashboardServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
        env["PLAN_METRICS_DATA_DIR"] = str(self.data_dir)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--port", str(self.port), "--address", "127.0.0.1"],
            env=env,
            cwd=REPO,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited with {self.proc.returncode}; see {self.log}")
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the dashboard did not answer within {timeout}s; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def browser_packages() -> None:
    """Chromium and the CJK fonts from Debian, installed by the project's own script if missing."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "system_packages.sh"), "chromium", "fonts-noto-cjk"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, f"could not install chromium and fonts-noto-cjk:\n{result.stderr[-3000:]}"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing after installing the chromium package"


@pytest.fixture(scope="module")
def browser(browser_packages):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()
    pw.stop()


class Console:
    """Everything the page logged as an error, and requests that failed."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text} ({m.location})"))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))


def settle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit finished its run (as Streamlit's own browser tests do: the app is
    connected and its script not running), no element is stale and every chart is drawn."""
    page.wait_for_timeout(200)  # a widget event reaches the server and starts the rerun
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]',
        timeout=timeout,
    )
    page.wait_for_function(
        """() => !document.querySelector('[data-stale="true"]')
                 && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                        .every(c => c.querySelector('canvas, svg'))""",
        timeout=timeout,
    )
    page.wait_for_timeout(200)


SHOWN_NUMBER = re.compile(r"([+-]?)(¥?)([\d,]+(?:\.\d+)?)\s*(亿|万|%)?")


def parse_shown(text: str) -> tuple[float, float]:
    """A number as the dashboard writes it (12.35万人次, ¥1.23亿, 84.6%, -13) → (value, the
    largest difference the rounding shown can hide). The test's own reading, not the app's code."""
    m = SHOWN_NUMBER.search(text.replace(" ", ""))
    assert m, f"no number in {text!r}"
    sign, _, digits, scale = m.groups()
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    factor = {"亿": 1e8, "万": 1e4, "%": 0.01, None: 1.0}[scale]
    value = float(digits.replace(",", "")) * factor * (-1 if sign == "-" else 1)
    return value, 0.5 * 10**-decimals * factor + 1e-9
