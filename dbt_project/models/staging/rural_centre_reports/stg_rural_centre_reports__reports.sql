-- The extractor has already typed and cleaned the rows (county names resolved, months as
-- dates, ratios in 0..1); staging keeps the row of the file received last per centre and month.
with source as (
    select * from {{ source('rural_centre_reports', 'rural_centre_reports__reports') }}
),

renamed as (
    select
        -- ids
        centre_id,
        county_code,
        cast(date_trunc('month', report_month) as date) as report_month,
        -- attributes
        days_open,
        student_visits,
        public_visits,
        activities,
        equipment_ok_ratio,
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
    -- a corrected file sent later replaces the earlier one for that centre and month
    select * from renamed
    {{ newest_file_row('centre_id, report_month') }}
),

final as (
    select * from latest
)

select * from final
