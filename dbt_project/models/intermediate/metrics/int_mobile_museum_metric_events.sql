-- M06 mobile museum metric events at the stop's host county. A stop that is not cancelled
-- counts as open in every month holding a day of [start_date, min(end_date, as_of_date)]
-- (as_of_date(): the day the data is as of, from meta.run_context; a stop cannot be open on a day still to come).
-- Visitors count every stop-day by the month of visit_date, literally "over stop-days in the
-- month" (a stop-day is a record of visitors who came, whatever became of the stop since);
-- a stop-day of an unknown stop has no region. Stops and stop-days a rule set aside
-- (intermediate/quality) do not count.
with stops as (
    select * from {{ ref('int_exhibition_stops_checked') }}
    where quarantine_reason is null
),

visits as (
    select * from {{ ref('int_stop_visits_checked') }}
    where quarantine_reason is null
),

stop_months as (
    select
        stop_id,
        host_county_code,
        cast(unnest(generate_series(
            date_trunc('month', start_date),
            date_trunc('month', least(end_date, {{ as_of_date() }})),
            interval 1 month
        )) as date) as period_month
    from stops
    where not is_cancelled and start_date <= least(end_date, {{ as_of_date() }})
),

stop_day_visits as (
    -- the checked stop-days carry their stop's county (only stops that are not set aside)
    select * from visits
),

stops_open as (
    select
        'mobile_museum_stops_open' as metric_id,
        host_county_code as region_code,
        period_month,
        {{ event_value('1') }} as value,
        stop_id as entity_id
    from stop_months
),

visitors as (
    select
        'mobile_museum_visitors' as metric_id,
        host_county_code as region_code,
        visit_month as period_month,
        {{ event_value('visitors') }} as value,
        stop_id || '@' || strftime(visit_date, '%Y-%m-%d') as entity_id
    from stop_day_visits
),

student_visitors as (
    select
        'mobile_museum_student_visitors' as metric_id,
        host_county_code as region_code,
        visit_month as period_month,
        {{ event_value('student_visitors') }} as value,
        stop_id || '@' || strftime(visit_date, '%Y-%m-%d') as entity_id
    from stop_day_visits
),

final as (
    select * from stops_open
    union all
    select * from visitors
    union all
    select * from student_visitors
)

select * from final
