"""The dashboard as a reader meets it: a Streamlit server on a published file, in Chromium.

The browser is Debian's `chromium` with `fonts-noto-cjk` (installed through
scripts/system_packages.sh when missing, so `make test` on a fresh machine gets them);
Playwright drives /usr/bin/chromium (nothing downloads a browser). Every server gets a free
port and its own process group.

What the pages must show comes from `WorldTruth` (fixture `world_truth`): the published
world's values, targets, quarantine and watermarks computed by the simulator alone
(`simulator.truth`, `simulator.drops`, the generated record versions), never read from the
published file, so a page that shows a wrong number fails even where the file is right.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest
import requests

from bench.dashboard import CHROMIUM_ARGS
from deploy.local_stack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


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
    connected and its script not running), no element is stale and every chart is drawn (the
    overview cards' trend lines too, which Streamlit draws a moment after the card)."""
    page.wait_for_timeout(200)  # a widget event reaches the server and starts the rerun
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]',
        timeout=timeout,
    )
    page.wait_for_function(
        """() => !document.querySelector('[data-stale="true"]')
                 && [...document.querySelectorAll('[data-testid="stVegaLiteChart"], [data-testid="stMetricChart"]')]
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


# --- the truth of the published world ---------------------------------------------------------
PROVINCE = "420000"
PLAN_START = date(2020, 7, 1)
DEFINITIONS = REPO / "dbt_project" / "seeds" / "metric_definitions.csv"  # the metric contract (names, units)


def _date(text: str) -> date:
    return date.fromisoformat(text)


class WorldTruth:
    """What the dashboard must show for `published_world`, from the simulator alone: metric
    values (`simulator.truth.metric_values`, the same rows the fixture checked the file
    against), the ledger's targets and what a correct pipeline sets aside
    (`simulator.drops`), and the newest record each source serves (the generated versions)."""

    def __init__(self, world):
        from extract.sources import SOURCES
        from simulator import drops, truth
        from simulator.__main__ import all_versions
        from simulator.server import ROUTES
        from simulator.world import BEIJING, WorldConfig, counties, parse_ts

        cfg, clock = WorldConfig(world.SEED, world.SCALE), parse_ts(world.CLOCK)
        self.clock = clock
        # GIVEN the world has no fault, no API record is set aside: only the drops' rows and files are
        assert truth.quarantined_records(cfg, clock, None, truth.ALL_SOURCES) == {}
        self.values: dict = world.truth  # {(metric, region, 'YYYY-MM-01'): (level, value)}
        self.as_of: date = datetime.fromtimestamp(clock, tz=BEIJING).date()
        self.latest_month: date = max(_date(m) for _, _, m in self.values)
        with DEFINITIONS.open(encoding="utf-8") as fh:
            self.catalog = {r["metric_id"]: r for r in csv.DictReader(fh)}
        self.names = {PROVINCE: "湖北省"}
        for c in counties():
            self.names[c.prefecture_code] = c.prefecture_name
            self.names.setdefault(c.code, c.name)
        self.prefectures = {c.prefecture_code for c in counties()}

        # the sources' watermarks: the newest version each endpoint serves by the clock
        entity_source = {e: s for s, routes in ROUTES.items() for e in routes.values()}
        newest: dict[str, int] = {}
        for v in all_versions(cfg):
            if v.updated_at <= clock:
                key = f"{entity_source[v.entity]}/{v.entity}"
                newest[key] = max(newest.get(key, 0), v.updated_at)
        self.watermarks = {k: datetime.fromtimestamp(x, tz=BEIJING).isoformat() for k, x in newest.items()}

        acts, targets = drops.ledger_rows(cfg, clock)
        self.targets = sorted(
            (
                {
                    "measure": drops.LEDGER_METRICS[metric],
                    "metric_id": metric,
                    "region_code": region,
                    "target": float(target),
                    "deadline": _date(deadline),
                    "actual": self._actual_to_date(metric, region, acts),
                }
                for (metric, region), (target, deadline) in targets.items()
            ),
            key=lambda t: (t["measure"], t["metric_id"], t["region_code"]),
        )
        for t in self.targets:
            t["ratio"] = t["actual"] / t["target"]

        self._quarantine(drops.drop_plan(cfg, clock), drops.due_files(cfg, clock))
        self._freshness(cfg, clock, newest, drops.due_files(cfg, clock), SOURCES)

    def _actual_to_date(self, metric: str, region: str, acts: dict) -> float:
        """From the plan's start through the latest month: the sum of the monthly values, or for
        the one distinct count among the targets, the prefectures surveyed at least once."""
        if metric == "literacy_survey_prefectures":
            assert region == PROVINCE
            return float(
                len(
                    {
                        self._prefecture_of(r)
                        for (m, r, d), v in acts.items()
                        if m == metric
                        and v > 0
                        and r != PROVINCE
                        and PLAN_START <= d
                        and d.replace(day=1) <= self.latest_month
                    }
                )
            )
        assert self.catalog[metric]["aggregation"] == "sum", f"no rule for the target of {metric}"
        return sum(v for d, v in self.series(metric, region).items() if PLAN_START <= d <= self.latest_month)

    @staticmethod
    def _prefecture_of(code: str) -> str:
        from simulator.world import county_by_code

        county = county_by_code().get(code)
        return county.prefecture_code if county else code

    def _quarantine(self, plan, due) -> None:
        """The quarantine summary (stage, source, dataset, column, records, files), per source,
        and the gate's quarantine warnings, as the simulator says a correct pipeline makes them."""
        groups: dict = defaultdict(list)
        for q in plan.quarantined:
            source = q.path.split("/")[0]
            endpoint = "activities" if source == "plan_ledger" else "reports"
            groups[("staging" if q.rule else "extract", source, endpoint, q.column, q.category)].append(q.path)
        for r in plan.rejected:
            groups[("extract", r.path.split("/")[0], "_file", "", r.reason)].append(r.path)
        self.quarantine = sorted((*key[:4], len(paths), len(set(paths))) for key, paths in groups.items())
        # the reasons the quality page shows, in Chinese (the simulator's categories' keys)
        from extract.reasons import reason
        from tests.reporting_truth import CATEGORY_KEY

        categories = {q.category for q in plan.quarantined} | {r.category for r in plan.rejected}
        self.reasons_zh = {reason(CATEGORY_KEY[c]).text_zh for c in categories}
        self.quarantined_per_source: Counter = Counter()
        for (_, source, *_), paths in groups.items():
            self.quarantined_per_source[source] += len(paths)
        # the gate warns: per drop source, "<set aside at extraction> of <records read> records
        # quarantined" (a rejected file is one record; a ledger workbook's rows are its 台账 and
        # 目标 rows); per staging rule, "<n> records quarantined: <reason>"
        self.warnings = []
        for source in ("rural_centre_reports", "plan_ledger"):
            files = [f for f in due if f.source == source]
            rejected = sum(1 for f in files if f.rejected)
            read = sum(len(f.reports) + len(f.ledger) + len(f.targets) for f in files if not f.rejected)
            at_extract = sum(1 for q in plan.quarantined if q.path.startswith(source + "/") and not q.rule) + rejected
            if at_extract:
                self.warnings.append(("extract", (at_extract, read + rejected)))
        staged = Counter((q.path.split("/")[0], q.category) for q in plan.quarantined if q.rule)
        self.warnings += [("staging", (n,)) for n in staged.values()]

    def _freshness(self, cfg, clock: int, newest: dict, due, sources) -> None:
        """The gate's freshness warning: sources whose newest record (API: updated_at; drops: the
        newest readable file's submission) is older at the clock than the source allows."""
        per_source: dict[str, int] = {}
        for key, at in newest.items():
            s = key.split("/")[0]
            per_source[s] = max(per_source.get(s, 0), at)
        for f in due:
            if not f.rejected:
                per_source[f.source] = max(per_source.get(f.source, 0), f.submitted)
        stale = [s for s, at in per_source.items() if round((clock - at) / 3600, 1) > sources[s].freshness_hours]
        if stale:
            self.warnings.append(("gx", (len(stale), len(per_source))))
        self.warnings.sort()

    # --- questions the pages answer -----------------------------------------------------------
    def months(self, metric: str) -> list[date]:
        return sorted({_date(m) for k, _, m in self.values if k == metric})

    def series(self, metric: str, region: str) -> dict[date, float]:
        """One region's values by month, oldest first."""
        return dict(sorted((_date(m), v) for (k, r, m), (_, v) in self.values.items() if k == metric and r == region))

    def at(self, metric: str, level: str, month: date) -> dict[str, float]:
        """Every region of a level with a value in one month."""
        key = month.isoformat()
        return {r: v for (k, r, m), (lvl, v) in self.values.items() if k == metric and m == key and lvl == level}

    def counties_of(self, prefecture: str, metric: str, month: date) -> dict[str, float]:
        return {
            code: v for code, v in self.at(metric, "county", month).items() if self._prefecture_of(code) == prefecture
        }

    def additive(self, metric: str) -> bool:
        return self.catalog[metric]["additive_over_months"] == "true"

    def target(self, metric: str, region: str) -> dict | None:
        return next((t for t in self.targets if (t["metric_id"], t["region_code"]) == (metric, region)), None)


@pytest.fixture(scope="session")
def world_truth(published_world) -> WorldTruth:
    return WorldTruth(published_world)
