-- One row: what this publish is for — its id and the (Beijing) day its data is as of (the
-- run's data interval end), with the newest month that has data. Readers show it beside the
-- publish log's time and watermarks ("data as of …").
with metric_values as (
    select * from {{ ref('plan_metric_values') }}
),

final as (
    select
        cast({{ run_context('publish_id') }} as varchar) as publish_id,
        cast({{ as_of_date() }} as date) as as_of_date,
        cast('{{ var("plan_start") }}' as date) as plan_start,
        (select max(period_month) from metric_values) as latest_month
)

select * from final
