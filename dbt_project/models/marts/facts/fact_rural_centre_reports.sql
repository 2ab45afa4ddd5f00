-- S4 rural-centre monthly reports at their own grain, one row per centre and month: exactly
-- the reports the M06 rural-centre metrics count (the latest accepted one; rows set aside by
-- a staging rule are left out). Who filled the report in is not here (no personal data); the
-- file it came from is, as the raw layer holds it: its name shown safely (extract/redact.py).
with reports as (
    select * from {{ ref('int_rural_centre_reports_checked') }}
    where quarantine_reason is null
),

final as (
    select
        -- ids
        centre_id,
        report_month,
        county_code,
        -- measures
        days_open,
        student_visits,
        public_visits,
        activities,
        equipment_ok_ratio,
        -- where it came from: the file (its name shown safely), sheet and row, and the landing
        -- run that received it (metrics.source_runs)
        source_file_path as source_file,
        source_sheet,
        source_row_number as source_row,
        source_manifest_id
    from reports
)

select * from final
order by centre_id, report_month
