-- S5 ledger rows (sheet 台账) with the first rule each breaks: an activity dated outside the
-- plan period up to the as-of month.
with activities as (
    select * from {{ ref('stg_plan_ledger__activities') }}
),

checked as (
    select
        *,
        {{ quarantine_columns([
            (outside_plan_period('activity_month'), '日期', 'activity_date', 'dated outside the plan period up to the as-of month'),
        ]) }}
    from activities
),

final as (
    select * from checked
)

select * from final
