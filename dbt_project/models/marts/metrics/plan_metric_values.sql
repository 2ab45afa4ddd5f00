-- One row per metric x region x month. Every level is recomputed from the events (records),
-- so medians and ratios are never averaged across regions; additive metrics get a province
-- row for every month from their first to their last month with data (zero-filled).
with definitions as (
    select * from {{ ref('metric_definitions') }}
),

aggregated_by_level as (
    {{ aggregate_events(
        'e.metric_id, r.rollup_region_code as region_code, r.rollup_level as region_level, e.period_month',
        'e.metric_id, r.rollup_region_code, r.rollup_level, e.period_month',
        'from ' ~ ref('int_metric_events') ~ ' as e'
        ~ ' inner join ' ~ ref('int_regions_rolled_up') ~ ' as r on e.region_code = r.region_code'
        ~ ' inner join ' ~ ref('metric_definitions') ~ ' as d on e.metric_id = d.metric_id where true'
    ) }}
),

aggregated as (
    -- a ratio has no row where its denominator is zero
    select * from aggregated_by_level
    where value is not null
),

province_spans as (
    select
        a.metric_id,
        min(a.period_month) as first_month,
        max(a.period_month) as last_month
    from aggregated as a
    inner join definitions as d using (metric_id)
    where a.region_level = 'province' and {{ zero_when_nothing_happened('d.aggregation') }}
    group by a.metric_id
),

zero_filled as (
    select
        s.metric_id,
        '420000' as region_code,
        'province' as region_level,
        cast(m.month as date) as period_month,
        0.0 as value
    from province_spans as s,
        generate_series(s.first_month, s.last_month, interval 1 month) as m (month)
    where not exists (
        select 1 from aggregated as a
        where a.metric_id = s.metric_id and a.region_code = '420000' and a.period_month = cast(m.month as date)
    )
),

final as (
    select
        cast(v.metric_id as varchar) as metric_id,
        cast(d.measure_code as varchar) as measure_code,
        cast(v.region_code as varchar) as region_code,
        cast(v.region_level as varchar) as region_level,
        cast(v.period_month as date) as period_month,
        cast(v.value as double) as value,
        cast(d.unit as varchar) as unit,
        cast({{ run_context('publish_id') }} as varchar) as publish_id
    from (
        select * from aggregated
        union all
        select * from zero_filled
    ) as v
    inner join definitions as d using (metric_id)
)

select * from final
order by metric_id, region_code, period_month
