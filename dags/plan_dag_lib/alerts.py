"""Failure and gate alerts, sent through Airflow's Apprise notifier.

Every task's `on_failure_callback` is `alert_on_failure`: it logs one readable message (DAG,
task, run, try and the error — for a failed quality gate that names the check, the table, a
sample of failing values and the query to look at them) and, when the Airflow connection
`plan_metrics_alerts` exists, sends the same message through `AppriseNotifier`
(`apache-airflow-providers-apprise`). Where it goes is configuration, not code: the
connection (conn type `apprise`) lists Apprise URLs in its extra, e.g.

    AIRFLOW_CONN_PLAN_METRICS_ALERTS='{"conn_type": "apprise", "extra": {"config": [
        {"path": "dingtalk://<token>/"}, {"path": "mailto://user:pass@example.org?to=ops@example.org"}]}}'

DingTalk (`dingtalk://`), WeCom (`wecombot://`), Feishu (`feishu://`), e-mail (`mailto://`) and a
plain JSON webhook (`json://`, `jsons://` for HTTPS) are all Apprise URLs.

Those URLs usually carry a token, so before anything is logged every URL of the connection,
and each part of it that can hold a credential, is registered with Airflow's secrets masker:
task logs show `***` where a URL or token would be. A notifier that fails (service down, bad
URL) is logged and never hides the logged alert.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

ALERT_CONN_ID = "plan_metrics_alerts"  # optional Apprise connection; absent: alerts are logged only
TOKEN_MIN = 8  # parts of a URL at least this long may be credentials and are masked


def failure_message(context) -> str:
    """What failed, in one readable message: DAG, task, run, try, and the error (which for a
    failed quality gate already names the check, table, failing values and how to look)."""
    ti = context.get("task_instance") or context.get("ti")
    return (
        f"PIPELINE FAILURE: dag={getattr(ti, 'dag_id', '?')} task={getattr(ti, 'task_id', '?')} "
        f"run={context.get('run_id')} try={getattr(ti, 'try_number', '?')}\n{context.get('exception')}"
    )


def secret_parts(url: str) -> list[str]:
    """The URL and every part of it that can carry a credential: user, password, a token-like
    host (dingtalk://<token>), the path and its long segments, long query values."""
    parts = [url]
    try:
        split = urlsplit(url)
    except ValueError:
        return parts
    if split.password:
        parts.append(unquote(split.password))
    if split.username and len(split.username) >= TOKEN_MIN:
        parts.append(unquote(split.username))
    host = split.hostname or ""
    if len(host) >= TOKEN_MIN and "." not in host:  # a host name has dots; a token does not
        parts.append(host)
    path = split.path.strip("/")
    if len(path) >= TOKEN_MIN:
        parts.append(path)
    parts += [seg for seg in path.split("/") if len(seg) >= TOKEN_MIN]
    parts += [value for _, value in parse_qsl(split.query) if len(value) >= TOKEN_MIN]
    return list(dict.fromkeys(parts))


def alert_urls() -> list[str] | None:
    """The Apprise URLs of connection `plan_metrics_alerts`, each registered with the secrets
    masker; None when the connection does not exist."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    try:
        conn = BaseHook.get_connection(ALERT_CONN_ID)
    except Exception:  # not configured: alerts go to the log only
        return None
    config = conn.extra_dejson.get("config") or []
    if isinstance(config, str):
        import json

        config = json.loads(config)
    entries = config if isinstance(config, list) else [config]
    urls = [str(e.get("path")) for e in entries if isinstance(e, dict) and e.get("path")]
    for url in urls:
        for part in secret_parts(url):
            mask_secret(part)
    return urls


def alert_on_failure(context) -> None:
    """Log what failed; send it through Apprise when `plan_metrics_alerts` is configured."""
    message = failure_message(context)
    urls = alert_urls()  # masks the URLs before anything below is logged
    log.error(message)
    if not urls:
        return
    try:
        from airflow.providers.apprise.notifications.apprise import AppriseNotifier
        from apprise import NotifyType

        ti = context.get("task_instance") or context.get("ti")
        notifier = AppriseNotifier(
            title=f"plan-metrics: {getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')} failed",
            body=message,
            notify_type=NotifyType.FAILURE,
            apprise_conn_id=ALERT_CONN_ID,
        )
        # notify() directly: calling the notifier would render the body as a Jinja template,
        # and an error message may well contain "{{".
        notifier.notify(context)
        # the URLs are masked (***) by now; the line shows the masking works in every task log
        log.info("alert handed to Apprise (connection %s): %s", ALERT_CONN_ID, ", ".join(urls))
    except Exception as exc:
        log.error("could not send the alert through Apprise (connection %s): %s", ALERT_CONN_ID, exc)
