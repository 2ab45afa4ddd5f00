with source as (
    select * from {{ source('scipop_platform', 'scipop_platform__rural_centres') }}
),

renamed as (
    select
        -- ids
        centre_id,
        school_code,
        county_code,
        -- attributes
        school_name,
        status,
        status = 'active' as is_active,
        cast(opened_on as date) as opened_on,
        cast(updated_at as timestamp with time zone) as updated_at,
        -- lineage
        _extra as extra_fields,
        _landed_at,
        _seq
    from source
),

latest as (
    select * from renamed
    {{ latest_version('centre_id') }}
),

final as (
    select * exclude (_landed_at, _seq) from latest
)

select * from final
