"""Sending the counties' digests (warehouse/notices.py) through Airflow's Apprise notifier.

The Apprise connection `plan_metrics_county_notices` is the one mapping of county → where its
digest goes: each entry's `tag` is a county code (DingTalk, WeCom, e-mail, a JSON webhook … —
any Apprise URL, as for the alerts, plan_dag_lib/alerts.py). Without the connection nothing is
sent (notices are off by default). Every URL, and each part of it that can hold a token, is
registered with the secrets masker before anything is logged; a county whose service fails is
logged and the others still get theirs.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import date
from pathlib import Path

from plan_dag_lib.alerts import secret_parts
from settings import Settings
from warehouse.notices import NOTICES_CONN_ID, county_digests

log = logging.getLogger(__name__)


def configured_counties() -> dict[str, list[str]] | None:
    """{county code: its Apprise URLs} of the connection (masked), or None when it does not exist."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    try:
        conn = BaseHook.get_connection(NOTICES_CONN_ID)
    except Exception:  # not configured: notices are off
        return None
    config = conn.extra_dejson.get("config") or []
    if isinstance(config, str):
        config = json.loads(config)
    out: dict[str, list[str]] = {}
    for entry in config if isinstance(config, list) else [config]:
        if isinstance(entry, dict) and entry.get("path") and entry.get("tag"):
            for part in secret_parts(str(entry["path"])):
                mask_secret(part)
            for tag in [entry["tag"]] if isinstance(entry["tag"], str) else entry["tag"]:
                out.setdefault(str(tag), []).append(str(entry["path"]))
    return out


def send_county_digests(settings: Settings, today: date) -> dict:
    """One digest to each configured county that has rows set aside this month or centres
    overdue; returns what was sent, skipped and failed (by county code)."""
    counties = configured_counties()
    if not counties:
        log.info("county notices are off (no Apprise connection %s with county tags)", NOTICES_CONN_ID)
        return {"sent": [], "skipped": [], "failed": [], "configured": False}
    from airflow.providers.apprise.notifications.apprise import AppriseNotifier
    from apprise import AppriseAttachment, NotifyType

    result: dict = {"sent": [], "skipped": [], "failed": [], "configured": True}
    with tempfile.TemporaryDirectory(prefix="county-notices-") as tmp:
        for digest in county_digests(settings.published_db, settings, today, sorted(counties)):
            if not digest.worth_sending:
                result["skipped"].append(digest.county_code)
                continue
            path = Path(tmp) / digest.attachment_name()
            path.write_bytes(digest.attachment())
            try:
                notifier = AppriseNotifier(
                    title=digest.title,
                    body=digest.body,
                    notify_type=NotifyType.INFO,
                    tag=digest.county_code,
                    attach=AppriseAttachment(str(path)),
                    apprise_conn_id=NOTICES_CONN_ID,
                )
                notifier.notify({})  # directly: a body is text, never a Jinja template
                result["sent"].append(digest.county_code)
            except Exception as exc:
                log.error("could not send the digest of %s: %s", digest.county_code, exc)
                result["failed"].append(digest.county_code)
    log.info(
        "county notices: sent %s, nothing to say %s, failed %s", result["sent"], result["skipped"], result["failed"]
    )
    return result
