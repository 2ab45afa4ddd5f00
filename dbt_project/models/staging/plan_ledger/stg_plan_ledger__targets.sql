-- Sheet 目标: a newer workbook replaces an older one's target for the same (指标代码, 地区代码).
with source as (
    select * from {{ source('plan_ledger', 'plan_ledger__targets') }}
),

renamed as (
    select
        -- ids
        metric_id,
        region_code,
        -- attributes
        target_value,
        deadline,
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
    {{ newest_file_row('metric_id, region_code') }}
),

final as (
    select * from latest
)

select * from final
