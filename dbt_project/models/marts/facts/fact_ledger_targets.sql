-- S5 targets (sheet 目标), one row per metric and region: the targets plan_progress measures
-- (the latest file's value for each).
with targets as (
    select * from {{ ref('stg_plan_ledger__targets') }}
),

definitions as (
    select * from {{ ref('metric_definitions') }}
),

final as (
    select
        -- ids
        t.metric_id,
        cast(d.measure_code as varchar) as measure_code,
        t.region_code,
        -- attributes
        t.target_value,
        t.deadline,
        -- where it came from: the file (its name shown safely), sheet and row, and the landing
        -- run that received it (metrics.source_runs)
        t.source_file_path as source_file,
        t.source_sheet,
        t.source_row_number as source_row,
        t.source_manifest_id
    from targets as t
    left join definitions as d on t.metric_id = d.metric_id
)

select * from final
order by metric_id, region_code
