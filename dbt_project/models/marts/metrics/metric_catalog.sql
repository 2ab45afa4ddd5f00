-- The metric catalog readers see: ids, Chinese and English names, units, definitions, source.
with definitions as (
    select * from {{ ref('metric_definitions') }}
),

final as (
    select
        cast(metric_id as varchar) as metric_id,
        cast(measure_code as varchar) as measure_code,
        cast(name_zh as varchar) as name_zh,
        cast(name_en as varchar) as name_en,
        cast(unit as varchar) as unit,
        cast(definition_zh as varchar) as definition_zh,
        cast(definition_en as varchar) as definition_en,
        cast(source as varchar) as source,
        cast(aggregation as varchar) as aggregation,
        cast(additive_over_months as boolean) as additive_over_months
    from definitions
)

select * from final
order by metric_id
