with source as (
    select * from {{ source('kechuang_roadshows', 'kechuang_roadshows__roadshow_projects') }}
),

renamed as (
    select
        -- ids
        project_id,
        roadshow_id,
        -- attributes
        title,
        tech_field,
        source_org,
        intent_agreements,
        signed_contracts,
        talents_introduced,
        -- money (decimal strings in the source)
        cast(contract_amount_cny as decimal(18, 2)) as contract_amount_cny,
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
    {{ latest_version('project_id') }}
),

final as (
    select * exclude (_landed_at, _seq) from latest
)

select * from final
