-- Sheet 台账: a newer workbook replaces an older one's row for the same (指标代码, 地区代码, 日期).
with source as (
    select * from {{ source('plan_ledger', 'plan_ledger__activities') }}
),

renamed as (
    select
        -- ids
        metric_id,
        measure_code,
        region_code,
        activity_date,
        cast(date_trunc('month', activity_date) as date) as activity_month,
        -- attributes
        value,
        -- lineage
        _file_path as source_file_path,
        _file_mtime as source_file_mtime,
        _landed_at as source_landed_at,
        _file_received_seq as source_received_seq,
        _sheet as source_sheet,
        _row_number as source_row_number,
        _manifest_id as source_manifest_id
    from source
),

latest as (
    select * from renamed
    {{ newest_file_row('metric_id, region_code, activity_date') }}
),

final as (
    select * from latest
)

select * from final
