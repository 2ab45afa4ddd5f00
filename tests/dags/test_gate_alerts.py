"""Failure alerts of the DAGs: one readable message, logged always, POSTed to the webhook of the
Airflow connection `plan_metrics_alerts` when it is configured (a real local HTTP server here)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))
import plan_dag_lib  # noqa: E402  (DAG glue lives on the dags/ path, as Airflow sees it)

CONTEXT = {
    "task_instance": SimpleNamespace(dag_id="transform_publish", task_id="quality_gate", try_number=1),
    "run_id": "manual__2021-12-31",
    "exception": RuntimeError(
        "Quality gate failed: expect_compound_columns_to_be_unique on metrics.plan_metric_values"
    ),
}


@pytest.fixture
def webhook():
    """A local HTTP server that records what is POSTed to it."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/plan-metrics", received
    server.shutdown()
    server.server_close()


def test_a_configured_webhook_receives_one_readable_message_naming_what_failed(webhook, monkeypatch, caplog):
    # GIVEN the alerts connection points at a local webhook
    url, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PLAN_METRICS_ALERTS", json.dumps({"conn_type": "http", "host": url}))
    # WHEN a task fails
    with caplog.at_level(logging.ERROR, logger="plan_dag_lib"):
        plan_dag_lib.alert_on_failure(CONTEXT)
    # THEN the webhook got one JSON POST naming the DAG, task, run and the failed check, and the log has it too
    assert len(received) == 1
    path, content_type, body = received[0]
    assert (path, content_type) == ("/hooks/plan-metrics", "application/json")
    for text in ("dag=transform_publish", "task=quality_gate", "run=manual__2021-12-31", "expect_compound_columns"):
        assert text in body["text"]
    assert any(body["text"] == m for m in caplog.messages)


def test_without_a_connection_the_alert_is_logged_only(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_PLAN_METRICS_ALERTS", raising=False)
    with caplog.at_level(logging.ERROR, logger="plan_dag_lib"):
        plan_dag_lib.alert_on_failure(CONTEXT)
    assert plan_dag_lib.alert_webhook_url() is None
    assert [m for m in caplog.messages if "PIPELINE FAILURE" in m and "task=quality_gate" in m]


def test_an_unreachable_webhook_does_not_hide_the_logged_alert(monkeypatch, caplog):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLAN_METRICS_ALERTS", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/x"})
    )
    with caplog.at_level(logging.ERROR, logger="plan_dag_lib"):
        plan_dag_lib.alert_on_failure(CONTEXT)
    assert any("PIPELINE FAILURE" in m for m in caplog.messages)
    assert any("could not POST the alert" in m for m in caplog.messages)
