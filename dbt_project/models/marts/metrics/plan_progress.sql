-- Progress against the plan's targets (S5 sheet 目标), one row per target. actual_to_date
-- recomputes the metric from its events over the whole window plan_start … as_of_month at the
-- target's region, with the metric's own aggregation: additive metrics are the cumulative sum,
-- distinct counts count each entity once over the window (e.g. literacy_survey_prefectures:
-- prefectures surveyed so far), medians and ratios are taken over all the window's records.
-- as_of_month is the latest month with published data (any metric).
with targets as (
    select * from {{ ref('stg_plan_ledger__targets') }}
),

definitions as (
    select * from {{ ref('metric_definitions') }}
),

metric_values as (
    select * from {{ ref('plan_metric_values') }}
),

as_of as (
    select max(period_month) as as_of_month from metric_values
),

target_regions as (
    select distinct
        metric_id,
        region_code
    from targets
),

-- only the targets' metrics and regions, over the window plan_start … as_of_month
actuals as (
    {{ aggregate_events(
        'e.metric_id, r.rollup_region_code as region_code',
        'e.metric_id, r.rollup_region_code',
        'from ' ~ ref('int_metric_events') ~ ' as e'
        ~ ' inner join ' ~ ref('int_regions_rolled_up') ~ ' as r on e.region_code = r.region_code'
        ~ ' inner join target_regions as t on e.metric_id = t.metric_id and r.rollup_region_code = t.region_code'
        ~ ' inner join ' ~ ref('metric_definitions') ~ ' as d on e.metric_id = d.metric_id'
        ~ ' cross join as_of'
        ~ " where e.period_month >= cast('" ~ var('plan_start') ~ "' as date) and e.period_month <= as_of.as_of_month"
    ) }}
),

progress as (
    select
        t.metric_id,
        d.measure_code,
        t.region_code,
        t.target_value,
        t.deadline,
        -- nothing happened yet: 0 for additive and distinct counts, unknown for medians/ratios
        case
            when a.value is not null then a.value
            when {{ zero_when_nothing_happened('d.aggregation') }} then 0
        end as actual_to_date,
        as_of.as_of_month
    from targets as t
    left join definitions as d using (metric_id)
    left join actuals as a on t.metric_id = a.metric_id and t.region_code = a.region_code
    cross join as_of
),

final as (
    select
        cast(metric_id as varchar) as metric_id,
        cast(measure_code as varchar) as measure_code,
        cast(region_code as varchar) as region_code,
        cast(target_value as double) as target_value,
        cast(deadline as date) as deadline,
        cast(actual_to_date as double) as actual_to_date,
        cast(case when target_value > 0 then actual_to_date / target_value end as double) as completion_ratio,
        cast(as_of_month as date) as as_of_month
    from progress
)

select * from final
order by metric_id, region_code
