-- S2 roadshows with the first rule each breaks: a roadshow held outside the plan period up to
-- the as-of month is set aside with its projects (a scheduled one dated ahead is normal).
with roadshows as (
    select * from {{ ref('stg_kechuang_roadshows__roadshows') }}
),

checked as (
    select
        *,
        {{ quarantine_columns([
            ('is_held and ' ~ outside_plan_period('held_month'), 'held_on', 'held_on', 'held outside the plan period up to the as-of month', 'event_outside_plan'),
        ]) }}
    from roadshows
),

final as (
    select * from checked
)

select * from final
