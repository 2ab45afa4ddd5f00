-- S1 stop-days with the first rule each breaks: a visit dated outside the plan period up to
-- the as-of month, visitor counts that cannot be (negative, or more students than visitors),
-- or a stop that is unknown or set aside (a stop-day has no region without its stop).
with visits as (
    select * from {{ ref('stg_scipop_platform__stop_visits') }}
),

stops as (
    select * from {{ ref('int_exhibition_stops_checked') }}
),

joined as (
    select
        v.*,
        s.host_county_code,
        s.stop_id is null as is_unknown_stop,
        s.quarantine_reason is not null as is_stop_set_aside
    from visits as v
    left join stops as s on v.stop_id = s.stop_id
),

checked as (
    select
        *,
        {{ quarantine_columns([
            (outside_plan_period('visit_month'), 'visit_date', 'visit_date', 'visit_date outside the plan period up to the as-of month', 'event_outside_plan'),
            ('visitors < 0', 'visitors', 'visitors', 'negative visitors', 'negative'),
            ('student_visitors < 0 or student_visitors > visitors', 'student_visitors', 'student_visitors', 'student visitors outside 0 … visitors', 'students_out_of_range'),
            ('is_unknown_stop', 'stop_id', 'stop_id', 'unknown stop (not served by the source or quarantined at extraction)', 'unknown_parent'),
            ('is_stop_set_aside', 'stop_id', 'stop_id', 'its stop is quarantined', 'parent_set_aside'),
        ]) }}
    from joined
),

final as (
    select * exclude (is_unknown_stop, is_stop_set_aside) from checked
)

select * from final
