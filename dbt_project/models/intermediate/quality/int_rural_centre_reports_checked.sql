-- Every accepted S4 monthly report row, with the reason it is set aside when it breaks a rule
-- that needs another source: its centre must be in the S1 rural-centre registry. Computed
-- on every build from both sources, so the result never depends on which source loaded
-- first; a report waits in quarantine until its centre is registered.
with reports as (
    select * from {{ ref('stg_rural_centre_reports__reports') }}
),

centres as (
    select * from {{ ref('stg_scipop_platform__rural_centres') }}
),

checked as (
    select
        r.*,
        case when c.centre_id is null then '科技馆编号' end as quarantine_column,
        case when c.centre_id is null then r.centre_id end as quarantine_value,
        case
            when c.centre_id is null then 'unknown centre (not in the S1 rural-centre registry)'
        end as quarantine_reason
    from reports as r
    left join centres as c on r.centre_id = c.centre_id
),

final as (
    select * from checked
)

select * from final
