-- M01 (hub-city roadshows) metric events at the hub city (a prefecture) and the month of
-- held_on. Only roadshows whose latest status is `held` count; a project counts through its
-- held roadshow (a project of a cancelled, scheduled or unknown roadshow does not).
with roadshows as (
    select * from {{ ref('int_roadshows_checked') }}
    where quarantine_reason is null
),

projects as (
    select * from {{ ref('int_roadshow_projects_checked') }}
    where quarantine_reason is null
),

held as (
    select * from roadshows
    where is_held
),

held_projects as (
    select
        p.*,
        h.hub_city_code,
        h.held_month
    from projects as p
    inner join held as h using (roadshow_id)
),

roadshows_held as (
    select
        'roadshows_held' as metric_id,
        hub_city_code as region_code,
        held_month as period_month,
        {{ event_value('1') }} as value,
        roadshow_id as entity_id
    from held
),

enterprises_reached as (
    select
        'roadshow_enterprises_reached' as metric_id,
        hub_city_code as region_code,
        held_month as period_month,
        {{ event_value('coalesce(enterprises_attending, 0)') }} as value,
        roadshow_id as entity_id
    from held
),

projects_pitched as (
    select
        'roadshow_projects_pitched' as metric_id,
        hub_city_code as region_code,
        held_month as period_month,
        {{ event_value('1') }} as value,
        project_id as entity_id
    from held_projects
),

contracts_signed as (
    select
        'roadshow_contracts_signed' as metric_id,
        hub_city_code as region_code,
        held_month as period_month,
        {{ event_value('coalesce(signed_contracts, 0)') }} as value,
        project_id as entity_id
    from held_projects
),

contract_amount as (
    select
        'roadshow_contract_amount_cny' as metric_id,
        hub_city_code as region_code,
        held_month as period_month,
        {{ event_value('coalesce(contract_amount_cny, 0)') }} as value,
        project_id as entity_id
    from held_projects
),

final as (
    select * from roadshows_held
    union all
    select * from enterprises_reached
    union all
    select * from projects_pitched
    union all
    select * from contracts_signed
    union all
    select * from contract_amount
)

select * from final
