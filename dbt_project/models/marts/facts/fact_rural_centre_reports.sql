-- S4 rural-centre monthly reports at their own grain, one row per centre and month: exactly
-- the reports the M06 rural-centre metrics count (the latest accepted one; rows set aside by
-- a staging rule are left out). Who filled the report in, and the file it came from, are not
-- here: no personal data, and file names are untrusted.
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
        equipment_ok_ratio
    from reports
)

select * from final
order by centre_id, report_month
