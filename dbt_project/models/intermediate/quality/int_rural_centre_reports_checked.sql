-- S4 monthly report rows with the first rule each breaks: a report month outside the plan
-- period up to the as-of month, or a centre the S1 rural-centre registry does not hold.
-- Computed on every build from both sources, so the result never depends on which source
-- loaded first; a report waits in quarantine until its centre is registered.
with reports as (
    select * from {{ ref('stg_rural_centre_reports__reports') }}
),

centres as (
    select * from {{ ref('stg_scipop_platform__rural_centres') }}
),

joined as (
    select
        r.*,
        c.centre_id is null as is_unknown_centre
    from reports as r
    left join centres as c on r.centre_id = c.centre_id
),

checked as (
    select
        *,
        {{ quarantine_columns([
            (outside_plan_period('report_month'), '报告月份', "strftime(report_month, '%Y-%m')", 'report month outside the plan period up to the as-of month'),
            ('is_unknown_centre', '科技馆编号', 'centre_id', 'unknown centre (not in the S1 rural-centre registry)'),
        ]) }}
    from joined
),

final as (
    select * exclude (is_unknown_centre) from checked
)

select * from final
