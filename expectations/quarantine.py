"""Records set aside instead of published, as quality-ledger entries (they warn, never block).

- At extraction (`meta.quarantine`, per landed run): records missing a required field or of
  the wrong type, spreadsheet rows with impossible values, files rejected whole. One entry
  per extract run loaded since the previous gate.
- At staging (`intermediate.int_quarantined_records`, recomputed by every dbt build): records
  that break a rule needing other tables or the run's context, e.g. a monthly report of a
  centre the S1 registry does not hold. One entry per source, table and reason, every run
  (the set can shrink: a report is accepted once its centre is registered).
"""

from __future__ import annotations

import json

import duckdb

from expectations.checks import CheckResult, jsonable


def extraction_checks(conn: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """Quarantine counts and clock skew of every extract run loaded since the previous gate."""
    rows = conn.execute(
        """
        select e.manifest_id, e.source, e.endpoint, e.records_received, e.quarantined,
               (select list({'column': q.column_name, 'reason': q.reason, 'value': q.value})[1:5]
                from meta.quarantine q where q.manifest_id = e.manifest_id) as reasons,
               coalesce(e.clock_skewed, 0), e.clock_skew_examples, e.present
        from meta.extract_runs e
        where not exists (select 1 from meta.quality_checks c
                          where c.layer = 'extract' and c.suite = e.manifest_id)
        order by e.loaded_at, e.manifest_id
        """
    ).fetchall()
    checks = []
    for manifest_id, source, endpoint, received, quarantined, reasons, skewed, examples, present in rows:
        table = f"raw.{source}__{endpoint}"
        checks.append(
            CheckResult(
                "extract",
                manifest_id,
                "quarantined_records",
                table,
                not quarantined,
                severity="warn",
                observed=f"{quarantined or 0} of {received} records quarantined",
                sample=[jsonable(r) for r in (reasons or [])],
                observed_value=float(quarantined or 0),
                investigate=f"select column_name, reason, value from meta.quarantine where manifest_id = '{manifest_id}'",
            )
        )
        if skewed:
            checks.append(
                CheckResult(
                    "extract",
                    manifest_id,
                    "clock_skew",
                    table,
                    False,
                    severity="warn",
                    observed=f"{skewed} records stamped after the run's present ({present}): the source's clock "
                    "runs ahead; loaded, left out of the watermark",
                    sample=json.loads(examples) if examples else [],
                    observed_value=float(skewed),
                    investigate=f"select * from {table} where try_cast(updated_at as timestamptz) > '{present}'::timestamptz",
                )
            )
    return checks


def set_aside_checks(conn: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """Landed runs the loader found broken and moved to _corrupt/ since the previous gate."""
    rows = conn.execute(
        """
        select manifest_id, source, endpoint, file, reason from meta.quarantine q
        where reason like 'landed run set aside%'
          and not exists (select 1 from meta.quality_checks c
                          where c.layer = 'extract' and c.suite = q.manifest_id and c.check_name = 'landed_run_set_aside')
        order by quarantined_at
        """
    ).fetchall()
    return [
        CheckResult(
            "extract",
            run_id,
            "landed_run_set_aside",
            f"raw.{source}__{endpoint}",
            False,
            severity="warn",
            observed=f"{reason}; moved to {path}; the next extract asks the source again",
            observed_value=1.0,
        )
        for run_id, source, endpoint, path, reason in rows
    ]


def staging_checks(conn: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """Records the dbt staging rules set aside in this build, per source, table and reason."""
    rows = conn.execute(
        """
        select source, table_name, reason, count(*) as n,
               list({'record': record_key, 'column': column_name, 'value': value, 'file': file,
                     'row': row_number} order by record_key)[1:5] as examples
        from intermediate.int_quarantined_records
        group by all order by all
        """
    ).fetchall()
    return [
        CheckResult(
            "staging",
            f"{source}.{table}",
            reason,
            f"raw.{source}__{table}",
            False,
            severity="warn",
            observed=f"{n} records quarantined: {reason}",
            sample=[jsonable(e) for e in examples],
            observed_value=float(n),
            investigate=(
                "select * from intermediate.int_quarantined_records "
                f"where source = '{source}' and table_name = '{table}' and reason = '{reason.replace(chr(39), chr(39) * 2)}'"
            ),
        )
        for source, table, reason, n, examples in rows
    ]
