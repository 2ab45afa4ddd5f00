-- S1 mobile-museum stop-days at their own grain, one row per stop and day: exactly the
-- stop-days the M06 visitor metrics count (not set aside by a staging rule, so each has a
-- known stop that is not set aside), with the stop's theme and host county.
with visits as (
    select * from {{ ref('int_stop_visits_checked') }}
    where quarantine_reason is null
),

stops as (
    select * from {{ ref('dim_stops') }}
),

final as (
    select
        -- ids
        v.stop_id,
        v.visit_date,
        v.host_county_code,
        -- attributes
        s.theme,
        v.visitors,
        v.student_visitors,
        v.visit_month,
        -- where it came from: the landing run of the version counted (metrics.source_runs)
        v.source_manifest_id
    from visits as v
    inner join stops as s on v.stop_id = s.stop_id
)

select * from final
order by stop_id, visit_date
