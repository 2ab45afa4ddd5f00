"""Data docs: the run's GX validation results as static HTML, one folder per run.

GX's own renderer (`ValidationResultsPageRenderer` + `DefaultJinjaPageView`) turns each
suite's validation result into a page; an index lists every suite and every non-GX check
(dbt tests, extraction quarantines) with its result. The pages are self-contained files:
open `$PLAN_METRICS_DATA_DIR/quality/<run>/index.html` in a browser, no server needed
(the GX pages load their CSS/JS from a CDN; without it they are plain but complete).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _suite_page(validation) -> str:
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(validation))


def _plain_page(validation) -> str:
    """A passing suite's expectations and what was observed, without GX's renderer."""
    rows = []
    for r in validation.results:
        cfg, res = r.expectation_config, r.result or {}
        kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format")}
        observed = res.get(
            "observed_value", f"{res.get('unexpected_count', 0)} of {res.get('element_count', '?')} unexpected"
        )
        rows.append(
            f"<tr><td>{html.escape(cfg.type)}</td><td>{html.escape(str(kwargs)[:300])}</td>"
            f"<td>{html.escape(str(observed)[:200])}</td><td>passed</td></tr>"
        )
    name = html.escape(validation.suite_name)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{name}</title></head><body>'
        f"<h1>{name}: every expectation passed</h1><table border=1 cellpadding=4>"
        "<tr><th>expectation</th><th>arguments</th><th>observed</th><th>result</th></tr>"
        f"{''.join(rows)}</table></body></html>"
    )


def write_report(folder: Path, run_id: str, validations: list, results: list) -> Path:
    """Write one page per suite plus index.html; returns the index's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for batch, validation in validations:
        page = f"{batch.name}.html"
        try:
            all_passed = all(r.success for r in validation.results)
            content = _plain_page(validation) if all_passed else _suite_page(validation)
            (folder / page).write_text(content, encoding="utf-8")
            link = f'<a href="{page}">{html.escape(validation.suite_name)}</a>'
        except Exception as exc:  # a rendering bug must not hide the results: keep the index
            log.warning("could not render %s: %s", batch.name, exc)
            link = html.escape(validation.suite_name)
        stats = validation.statistics
        rows.append(
            f"<tr><td>{link}</td><td>{html.escape(batch.table)}</td><td>{len(batch.df)}</td>"
            f"<td>{stats['successful_expectations']}/{stats['evaluated_expectations']}</td>"
            f"<td>{'passed' if validation.success else 'FAILED'}</td></tr>"
        )
    checks = [
        f"<tr><td>{html.escape(r.layer)}</td><td>{html.escape(r.suite)}</td><td>{html.escape(r.check)}</td>"
        f"<td>{html.escape(r.table)}</td><td>{r.severity}</td><td>{'ok' if r.success else 'FAILED'}</td>"
        f"<td>{html.escape(r.observed)}</td></tr>"
        for r in results
        if not r.success or r.layer != "gx"
    ]
    index = f"""<!doctype html><html><head><meta charset="utf-8"><title>Quality gate {html.escape(run_id)}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px}}</style>
</head><body><h1>Quality gate — run {html.escape(run_id)}</h1>
<h2>Great Expectations suites</h2>
<table><tr><th>suite</th><th>table</th><th>rows validated</th><th>expectations passed</th><th>result</th></tr>
{"".join(rows)}</table>
<h2>Failed checks, dbt tests and extraction quarantines</h2>
<table><tr><th>layer</th><th>suite</th><th>check</th><th>table</th><th>severity</th><th>result</th><th>observed</th></tr>
{"".join(checks)}</table></body></html>"""
    path = folder / "index.html"
    path.write_text(index, encoding="utf-8")
    return path
