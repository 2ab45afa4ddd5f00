-- S1 mobile-museum stops with the first rule each breaks: a stop that starts before the plan
-- or ends before it starts is set aside with its visits (they roll up to its county).
with stops as (
    select * from {{ ref('stg_scipop_platform__exhibition_stops') }}
),

checked as (
    select
        *,
        {{ quarantine_columns([
            ("start_date < cast('" ~ var('plan_start') ~ "' as date)", 'start_date', 'start_date', 'starts before the plan period', 'starts_before_plan'),
            ('end_date < start_date', 'end_date', 'end_date', 'ends before it starts', 'ends_before_start'),
        ]) }}
    from stops
),

final as (
    select * from checked
)

select * from final
