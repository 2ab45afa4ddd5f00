-- S2 roadshows at their own grain: exactly the roadshows the M01 metrics count (held, not set
-- aside by a staging rule), at their hub city (a prefecture) and the month of held_on.
with roadshows as (
    select * from {{ ref('int_roadshows_checked') }}
    where is_held and quarantine_reason is null
),

final as (
    select
        -- ids
        roadshow_id,
        hub_city_code,
        -- attributes
        zone,
        industry,
        enterprises_attending,
        -- dates
        held_on,
        held_month,
        -- where it came from: the landing run of the version counted (metrics.source_runs)
        source_manifest_id
    from roadshows
)

select * from final
order by roadshow_id
