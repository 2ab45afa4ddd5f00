-- S3 service teams (服务团), the latest version of each: what fact_orders.service_team_id
-- refers to.
with teams as (
    select * from {{ ref('stg_kechuang_orders__service_teams') }}
),

final as (
    select
        service_team_id,
        service_team_name,
        lead_society,
        member_count
    from teams
)

select * from final
order by service_team_id
