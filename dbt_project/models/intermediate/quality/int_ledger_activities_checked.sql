-- S5 ledger rows (sheet 台账) with the first rule each breaks: an activity dated outside the
-- plan period up to the as-of month. The rules are dbt_project.yml's `drop_rules` (the
-- pre-check, extract/precheck.py, applies the same).
with activities as (
    select * from {{ ref('stg_plan_ledger__activities') }}
),

joined as (
    select
        *,
        {{ rule_period_columns() }}
    from activities
),

checked as (
    select
        *,
        {{ drop_rules('plan_ledger') }}
    from joined
),

final as (
    select * exclude (plan_start, as_of_month) from checked
)

select * from final
