-- S4 monthly report rows with the first rule each breaks: a report month outside the plan
-- period up to the as-of month, or a centre the S1 rural-centre registry does not hold.
-- Computed on every build from both sources, so the result never depends on which source
-- loaded first; a report waits in quarantine until its centre is registered. The rules are
-- dbt_project.yml's `drop_rules` (the pre-check, extract/precheck.py, applies the same).
with reports as (
    select * from {{ ref('stg_rural_centre_reports__reports') }}
),

centres as (
    select * from {{ ref('stg_scipop_platform__rural_centres') }}
),

joined as (
    select
        r.*,
        c.centre_id is null as is_unknown_centre,
        {{ rule_period_columns() }}
    from reports as r
    left join centres as c on r.centre_id = c.centre_id
),

checked as (
    select
        *,
        {{ drop_rules('rural_centre_reports') }}
    from joined
),

final as (
    select * exclude (is_unknown_centre, plan_start, as_of_month) from checked
)

select * from final
