-- M06 rural centre metric events. Report metrics count the latest accepted report of each
-- centre and month at the report's county (所属县区).
--
-- rural_centre_report_rate is a ratio recomputed at each level from two kinds of events
-- (aggregation `report_rate` in plan_metric_values): value 0 = a centre `active` in the
-- registry and opened on or before the month's last day (denominator), value 1 = such a
-- centre that reported in the month (numerator: only centres of the denominator, so a centre
-- suspended since it reported cannot push the rate above 1). Denominator events exist for every month from the first to
-- the last month with any accepted report in Hubei, so a region whose active centres sent
-- nothing gets a 0, and a region with no such centre gets no row.
with reports as (
    select * from {{ ref('int_rural_centre_reports_checked') }}
    where quarantine_reason is null
),

centres as (
    select * from {{ ref('stg_scipop_platform__rural_centres') }}
),

report_span as (
    select
        min(report_month) as first_month,
        max(report_month) as last_month
    from reports
),

span_months as (
    select cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as period_month
    from report_span
    where first_month is not null
),

active_centre_months as (
    select
        c.centre_id,
        c.county_code,
        m.period_month
    from centres as c
    inner join span_months as m
        on c.opened_on <= last_day(m.period_month)
    where c.is_active
),

reporting as (
    select
        'rural_centres_reporting' as metric_id,
        county_code as region_code,
        report_month as period_month,
        {{ event_value('1') }} as value,
        centre_id as entity_id
    from reports
),

student_visits as (
    select
        'rural_centre_student_visits' as metric_id,
        county_code as region_code,
        report_month as period_month,
        {{ event_value('coalesce(student_visits, 0)') }} as value,
        centre_id as entity_id
    from reports
),

public_visits as (
    select
        'rural_centre_public_visits' as metric_id,
        county_code as region_code,
        report_month as period_month,
        {{ event_value('coalesce(public_visits, 0)') }} as value,
        centre_id as entity_id
    from reports
),

activities as (
    select
        'rural_centre_activities' as metric_id,
        county_code as region_code,
        report_month as period_month,
        {{ event_value('coalesce(activities, 0)') }} as value,
        centre_id as entity_id
    from reports
),

rate_numerator as (
    select
        'rural_centre_report_rate' as metric_id,
        a.county_code as region_code,
        a.period_month,
        {{ event_value('1') }} as value,
        a.centre_id as entity_id
    from active_centre_months as a
    semi join reports as r on a.centre_id = r.centre_id and a.period_month = r.report_month
),

rate_denominator as (
    select
        'rural_centre_report_rate' as metric_id,
        county_code as region_code,
        period_month,
        {{ event_value('0') }} as value,
        centre_id as entity_id
    from active_centre_months
),

final as (
    select * from reporting
    union all
    select * from student_visits
    union all
    select * from public_visits
    union all
    select * from activities
    union all
    select * from rate_numerator
    union all
    select * from rate_denominator
)

select * from final
