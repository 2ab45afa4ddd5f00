-- How each metric follows from the published facts (seeds/metric_fact_rules.csv), with the
-- catalog's aggregation: one value's facts are one parameterised query over the published file
-- (dashboard/explain.py), and those facts aggregated give the value back.
with rules as (
    select * from {{ ref('metric_fact_rules') }}
),

definitions as (
    select * from {{ ref('metric_definitions') }}
),

final as (
    select
        -- ids
        r.metric_id,
        cast(d.measure_code as varchar) as measure_code,
        -- where the rows are
        r.fact_table,
        r.region_column,
        nullif(r.month_column, '') as month_column,
        r.row_filter,
        -- what each row contributes, and how the rows make the value
        r.value_expression,
        r.entity_expression,
        d.aggregation,
        -- what was set aside instead (set_aside_records.dataset)
        r.set_aside_datasets
    from rules as r
    inner join definitions as d on r.metric_id = d.metric_id
)

select * from final
order by metric_id
