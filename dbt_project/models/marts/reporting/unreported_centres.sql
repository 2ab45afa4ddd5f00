-- 未报送清单: for each month and county, the centres `active` in the S1 registry and opened on
-- or before the month's last day that have no accepted report for the month — the centres
-- rural_centre_report_rate counts in its denominator and not in its numerator — with the
-- report's deadline (the `report_deadline_day`-th of the following month) and the days it is
-- overdue as of the run's "as of" day. Months: from the first month with any accepted report
-- in Hubei to the later of the last such month and the last month whose deadline has passed.
with reports as (
    select * from {{ ref('int_rural_centre_reports_checked') }}
    where quarantine_reason is null
),

centres as (
    select * from {{ ref('stg_scipop_platform__rural_centres') }}
    where is_active
),

settings as (
    select
        cast({{ as_of_date() }} as date) as as_of_date,
        cast({{ var('report_deadline_day') }} as integer) as deadline_day
),

span as (
    select
        min(r.report_month) as first_month,
        greatest(
            max(r.report_month),
            cast(date_trunc('month', s.as_of_date - s.deadline_day * interval 1 day - interval 1 month) as date)
        ) as last_month
    from reports as r
    cross join settings as s
    group by s.as_of_date, s.deadline_day
),

span_months as (
    select cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as period_month
    from span
    where first_month is not null
),

missing as (
    select
        m.period_month,
        c.county_code,
        c.centre_id,
        c.school_name,
        c.opened_on
    from centres as c
    inner join span_months as m
        on c.opened_on <= last_day(m.period_month)
    anti join reports as r
        on c.centre_id = r.centre_id and m.period_month = r.report_month
),

final as (
    select
        missing.period_month,
        missing.county_code,
        missing.centre_id,
        missing.school_name,
        missing.opened_on,
        cast(
            missing.period_month + interval 1 month + (settings.deadline_day - 1) * interval 1 day as date
        ) as deadline,
        settings.as_of_date
    from missing
    cross join settings
)

select
    period_month,
    county_code,
    centre_id,
    school_name,
    opened_on,
    deadline,
    greatest(0, as_of_date - deadline) as days_overdue,
    as_of_date > deadline as is_overdue,
    as_of_date
from final
