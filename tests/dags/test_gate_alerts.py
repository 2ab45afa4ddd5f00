"""Failure and gate alerts (dags/plan_dag_lib/alerts.py): one readable message, always logged,
and sent through Airflow's Apprise notifier when the Apprise connection `plan_metrics_alerts`
is configured — here to a real local HTTP endpoint (Apprise's `json://` webhook). Webhook URLs
and their tokens are masked by Airflow's secrets masker in every log line.

The production-shaped test (tests/deployment/test_prod_celery.py) receives the same alert from
a real failed quality gate under the CeleryExecutor."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from deploy.local_stack.processes import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))
from plan_dag_lib import alerts  # noqa: E402  (DAG glue lives on the dags/ path, as Airflow sees it)

TOKEN = "s3cr3t-webhook-token-4711"
CONTEXT = {
    "task_instance": SimpleNamespace(dag_id="transform_publish", task_id="quality_gate", try_number=1),
    "run_id": "manual__2021-12-31",
    "exception": RuntimeError(
        "Quality gate failed: expect_compound_columns_to_be_unique on metrics.plan_metric_values {{ not a template }}"
    ),
}


def apprise_connection(*paths: str) -> str:
    return json.dumps({"conn_type": "apprise", "extra": {"config": [{"path": p} for p in paths]}})


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
    yield f"127.0.0.1:{server.server_port}/hooks/{TOKEN}", received
    server.shutdown()
    server.server_close()


def test_an_apprise_json_webhook_receives_one_alert_naming_what_failed(webhook, monkeypatch, caplog):
    # GIVEN the alerts connection lists an Apprise JSON webhook on a local HTTP server
    address, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PLAN_METRICS_ALERTS", apprise_connection(f"json://{address}"))
    # WHEN a task fails (the message even contains Jinja braces: it is sent as it is)
    with caplog.at_level(logging.INFO, logger="plan_dag_lib"):
        alerts.alert_on_failure(CONTEXT)
    # THEN the webhook got one JSON POST from Apprise: a failure, naming DAG, task, run and the check
    assert len(received) == 1
    path, content_type, body = received[0]
    assert (path, content_type) == (f"/hooks/{TOKEN}", "application/json")
    assert body["type"] == "failure"
    assert body["title"] == "plan-metrics: transform_publish.quality_gate failed"
    for text in ("dag=transform_publish", "task=quality_gate", "run=manual__2021-12-31", "{{ not a template }}"):
        assert text in body["message"]
    # AND the same message is in the log
    assert any(body["message"] == m for m in caplog.messages)


def test_without_a_connection_the_alert_is_logged_only(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_PLAN_METRICS_ALERTS", raising=False)
    with caplog.at_level(logging.ERROR, logger="plan_dag_lib"):
        alerts.alert_on_failure(CONTEXT)
    assert alerts.alert_urls() is None
    assert [m for m in caplog.messages if "PIPELINE FAILURE" in m and "task=quality_gate" in m]


def test_an_unreachable_destination_does_not_hide_the_logged_alert(monkeypatch, caplog):
    url = f"json://127.0.0.1:{free_port()}/hooks/{TOKEN}"
    monkeypatch.setenv("AIRFLOW_CONN_PLAN_METRICS_ALERTS", apprise_connection(url))
    with caplog.at_level(logging.WARNING):
        alerts.alert_on_failure(CONTEXT)  # does not raise
    assert any("PIPELINE FAILURE" in m for m in caplog.messages)
    # Apprise itself reports the failed delivery
    assert any(r.name == "apprise" and r.levelno >= logging.WARNING for r in caplog.records)


def test_webhook_urls_and_their_tokens_are_masked_in_log_lines(monkeypatch):
    # GIVEN connection URLs that carry credentials in every place Apprise URLs put them
    urls = [
        f"json://127.0.0.1:{free_port()}/hooks/{TOKEN}",
        "dingtalk://a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0/",
        "mailto://alerts:mail-pa55word-99@mail.example.org?to=ops@example.org",
        "jsons://hooks.example.org/notify?token=query-token-123456",
    ]
    monkeypatch.setenv("AIRFLOW_CONN_PLAN_METRICS_ALERTS", apprise_connection(*urls))
    from airflow.sdk._shared.secrets_masker import SecretsMasker, _secrets_masker

    # as in every Airflow component: log masking on, the masker filtering each record
    monkeypatch.setattr(SecretsMasker, "mask_secrets_in_logs", True)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(_secrets_masker())
    logging.getLogger().addHandler(handler)
    try:
        # WHEN the alert is handled (the URLs are read, then messages logged)
        assert alerts.alert_urls() == urls
        logging.getLogger("plan_dag_lib.alerts").error("posting to %s failed", urls[0])
        logging.getLogger("apprise").error("JSON POST URL: http://127.0.0.1/hooks/%s", TOKEN)
        logging.getLogger("apprise").error("DingTalk to %s", urls[1])
    finally:
        logging.getLogger().removeHandler(handler)
    logged = stream.getvalue()
    # THEN no URL, token or password appears in what was logged
    assert logged.count("***") >= 3
    for secret in (*urls, TOKEN, "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0", "mail-pa55word-99", "query-token-123456"):
        assert secret not in logged
    # AND the masker redacts them in any text, as task logs are redacted
    from airflow.sdk._shared.secrets_masker import redact

    assert "mail-pa55word-99" not in redact(f"connect to {urls[2]}")
