"""Notices to counties (off by default; dags/county_notices.py, warehouse/notices.py): each
county the Apprise connection `plan_metrics_county_notices` names (by tag) gets one digest —
its rows set aside this month with the return list attached, and its centres overdue — here
at a real local HTTP endpoint (Apprise's `json://` webhook), checked against the simulator's
account of the published world."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
from collections import Counter
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import openpyxl
import pytest

from extract.beijing_time import BEIJING
from settings import Settings
from simulator.world import WorldConfig, parse_ts
from tests import reporting_truth as truth
from tests.conftest import PublishedWorld

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))
from plan_dag_lib import notices  # noqa: E402  (DAG glue lives on the dags/ path, as Airflow sees it)

CFG = WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE)
CLOCK = parse_ts(PublishedWorld.CLOCK)
TOKEN = "county-s3cr3t-token-0042"


@pytest.fixture
def webhook():
    """A local HTTP server that records what is POSTed to it, by path."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def _mapping(address: str, counties: list[str]) -> str:
    config = [{"path": f"json://{address}/hooks/{c}/{TOKEN}", "tag": c} for c in counties]
    return json.dumps({"conn_type": "apprise", "extra": {"config": config}})


def test_each_configured_county_gets_its_rows_set_aside_with_the_return_list_and_its_overdue_centres(
    published_world, webhook, monkeypatch
):
    # GIVEN the truth: per county, the rows set aside (all received when the world was published,
    # none fixed) and the centres overdue for its latest month whose deadline has passed
    rows = [r for r in truth.return_rows(CFG, CLOCK) if r[6] is not None]
    per_county = Counter(r[6] for r in rows)
    unreported = truth.unreported(CFG, CLOCK, date(2021, 12, 31))  # as of the published day
    busiest = max(sorted(per_county), key=per_county.get)
    quiet = sorted({c for (_, _), (c, *_r) in unreported.items()} - set(per_county))[0]
    # AND the mapping names two counties, and one more with nothing to say never hears a word
    address, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PLAN_METRICS_COUNTY_NOTICES", _mapping(address, [busiest, quiet]))
    # WHEN the digests are sent (today: this month, when the world's files were received)
    today = datetime.now(BEIJING).date()
    result = notices.send_county_digests(Settings.from_env().with_data_dir(published_world.data_dir), today)
    # THEN each county got one message at its own URL
    assert sorted(result["sent"]) == sorted([busiest, quiet]) and not result["failed"]
    by_county = {path.split("/")[2]: body for path, body in received}
    assert sorted(by_county) == sorted([busiest, quiet]) and len(received) == 2
    # AND the busy county's says how many rows were set aside, and attaches them to send back
    body = by_county[busiest]
    assert f"本月被退回、尚未更正的月报数据：{per_county[busiest]} 处" in body["message"]
    (attachment,) = body["attachments"]
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(attachment["base64"])))
    sheet = list(wb.active.iter_rows(values_only=True))
    assert sheet[1][:3] == ("文件", "工作表", "行号")
    listed = {(r[0], r[2], r[6]) for r in sheet[2:]}
    assert listed == {(f, row, col) for f, row, col, *_k, county in rows if county == busiest}
    # AND the quiet county's names its overdue centres of the latest month past its deadline
    late = {k: v for k, v in unreported.items() if v[0] == quiet and v[4]}
    latest = max(m for m, _ in late)
    text = by_county[quiet]["message"]
    assert f"{latest:%Y年%m月} 的月报逾期未报（{sum(m == latest for m, _ in late)} 所）" in text
    assert all(cid in text for (m, cid) in late if m == latest)
    assert "本月被退回、尚未更正的月报数据：0 处" in text


def test_without_the_connection_nothing_is_sent(published_world, webhook, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PLAN_METRICS_COUNTY_NOTICES", raising=False)
    _, received = webhook
    result = notices.send_county_digests(
        Settings.from_env().with_data_dir(published_world.data_dir), datetime.now(BEIJING).date()
    )
    assert result["configured"] is False and result["sent"] == [] and received == []
