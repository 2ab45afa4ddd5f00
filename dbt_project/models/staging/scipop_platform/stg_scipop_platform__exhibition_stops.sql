with source as (
    select * from {{ source('scipop_platform', 'scipop_platform__exhibition_stops') }}
),

renamed as (
    select
        -- ids
        stop_id,
        museum_set_id,
        host_county_code,
        -- attributes
        theme,
        venue_name,
        status,
        status = 'cancelled' as is_cancelled,
        -- dates (inclusive, local calendar dates)
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(updated_at as timestamp with time zone) as updated_at,
        -- lineage
        _extra as extra_fields,
        _manifest_id as source_manifest_id,
        _landed_at,
        _seq
    from source
),

latest as (
    select * from renamed
    {{ latest_version('stop_id') }}
),

final as (
    select * exclude (_landed_at, _seq) from latest
)

select * from final
