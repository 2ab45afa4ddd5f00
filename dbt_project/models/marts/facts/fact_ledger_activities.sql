-- S5 ledger rows (sheet 台账) at their own grain, one row per metric, region and day: the rows
-- not set aside by a staging rule whose metric the catalog takes from the ledger (S5) and
-- that hold a value, i.e. the rows the M03–M09 ledger metrics count. The free-text 说明 is
-- left out: anything may be typed into it.
with activities as (
    select * from {{ ref('int_ledger_activities_checked') }}
    where quarantine_reason is null and value is not null
),

definitions as (
    select * from {{ ref('metric_definitions') }}
    where source = 'S5'
),

final as (
    select
        -- ids
        a.metric_id,
        cast(d.measure_code as varchar) as measure_code,
        a.region_code,
        a.activity_date,
        -- measures
        a.value,
        a.activity_month,
        -- where it came from: the file (its name shown safely), sheet and row, and the landing
        -- run that received it (metrics.source_runs)
        a.source_file_path as source_file,
        a.source_sheet,
        a.source_row_number as source_row,
        a.source_manifest_id
    from activities as a
    inner join definitions as d on a.metric_id = d.metric_id
)

select * from final
order by metric_id, region_code, activity_date
