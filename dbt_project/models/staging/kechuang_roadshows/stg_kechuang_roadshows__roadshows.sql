with source as (
    select * from {{ source('kechuang_roadshows', 'kechuang_roadshows__roadshows') }}
),

renamed as (
    select
        -- ids
        roadshow_id,
        hub_city_code,
        -- attributes
        zone,
        industry,
        status,
        status = 'held' as is_held,
        enterprises_attending,
        -- dates (local calendar dates)
        cast(held_on as date) as held_on,
        cast(date_trunc('month', cast(held_on as date)) as date) as held_month,
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
    {{ latest_version('roadshow_id') }}
),

final as (
    select * exclude (_landed_at, _seq) from latest
)

select * from final
