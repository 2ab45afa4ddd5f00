-- For people who write SQL by hand: plan_metric_values with the metric's, measure's and
-- region's names joined in. A view, so it adds no data of its own.
-- The refs leave the database name out on purpose: the publish copies this view's SQL into
-- the published file, where the working database's name does not exist.
{{ config(materialized='view') }}

with metric_values as (
    select * from {{ ref('plan_metric_values').include(database=False) }}
),

catalog as (
    select * from {{ ref('metric_catalog').include(database=False) }}
),

measures as (
    select * from {{ ref('reader_plan_measures').include(database=False) }}
),

regions as (
    select * from {{ ref('regions').include(database=False) }}
),

final as (
    select
        v.metric_id,
        c.name_zh as metric_name_zh,
        c.name_en as metric_name_en,
        v.measure_code,
        m.title_zh as measure_title_zh,
        m.title_en as measure_title_en,
        v.region_code,
        r.name_zh as region_name_zh,
        v.region_level,
        r.prefecture_code,
        p.name_zh as prefecture_name_zh,
        v.period_month,
        v.value,
        v.unit,
        c.aggregation,
        c.additive_over_months,
        v.publish_id
    from metric_values as v
    inner join catalog as c on v.metric_id = c.metric_id
    inner join measures as m on v.measure_code = m.measure_code
    inner join regions as r on v.region_code = r.region_code
    left join regions as p on r.prefecture_code = p.region_code
)

select * from final
