-- The semantic layer's grain for rural_centre_report_rate: one row per centre that should
-- report and month (active in the registry, opened on or before the month's last day; every
-- month from the first to the last month with an accepted report in Hubei), and whether it
-- reported. MetricFlow divides two sums of it; it cannot make the denominator's rows itself.
-- A view over published tables: the refs leave the database name out (the publish copies it).
{{ config(materialized='view') }}

with reports as (
    select * from {{ ref('fact_rural_centre_reports').include(database=False) }}
),

centres as (
    select * from {{ ref('rural_centre_registry').include(database=False) }}
    where is_active
),

report_months as (
    select
        cast(
            unnest(generate_series(min(report_month), max(report_month), interval 1 month)) as date
        ) as due_month
    from reports
),

final as (
    -- a report is one row per centre and month (fact_rural_centre_reports' key): no duplicates
    select
        c.centre_id,
        c.county_code,
        m.due_month,
        r.centre_id is not null as has_reported
    from centres as c
    inner join report_months as m on c.opened_on <= last_day(m.due_month)
    left join reports as r on c.centre_id = r.centre_id and m.due_month = r.report_month
)

select * from final
