-- S2 roadshow projects at their own grain: exactly the projects the M01 metrics count (those
-- of a held roadshow in fact_roadshows, not set aside by a staging rule), with their roadshow's
-- hub city and month. The free-text title is left out: anything may be typed into it.
with projects as (
    select * from {{ ref('int_roadshow_projects_checked') }}
    where quarantine_reason is null
),

roadshows as (
    select * from {{ ref('fact_roadshows') }}
),

final as (
    select
        -- ids
        p.project_id,
        p.roadshow_id,
        r.hub_city_code,
        -- attributes
        p.tech_field,
        p.source_org,
        p.intent_agreements,
        p.signed_contracts,
        p.talents_introduced,
        -- money, in yuan
        p.contract_amount_cny,
        -- the roadshow's month
        r.held_month,
        -- where it came from: the landing run of the version counted (metrics.source_runs)
        p.source_manifest_id
    from projects as p
    inner join roadshows as r on p.roadshow_id = r.roadshow_id
)

select * from final
order by project_id
