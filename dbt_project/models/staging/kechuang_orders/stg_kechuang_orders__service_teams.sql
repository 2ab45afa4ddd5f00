with source as (
    select * from {{ source('kechuang_orders', 'kechuang_orders__service_teams') }}
),

renamed as (
    select
        team_id as service_team_id,
        team_name as service_team_name,
        lead_society,
        member_count,
        cast(updated_at as timestamp with time zone) as updated_at,
        _landed_at,
        _seq
    from source
),

latest as (
    select * from renamed
    {{ latest_version('service_team_id') }}
)

select * exclude (_landed_at, _seq) from latest
