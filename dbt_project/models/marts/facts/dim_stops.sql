-- S1 mobile-museum stops that passed the staging rules: what fact_stop_days refers to, and
-- what mobile_museum_stops_open counts (a stop not cancelled is open in every month holding a
-- day of start_date … open_until).
with stops as (
    select * from {{ ref('int_exhibition_stops_checked') }}
    where quarantine_reason is null
),

final as (
    select
        -- ids
        stop_id,
        museum_set_id,
        host_county_code,
        -- attributes
        theme,
        venue_name,
        status,
        is_cancelled,
        -- dates (inclusive)
        start_date,
        end_date,
        -- a stop cannot be open on a day after the one the data is as of
        least(end_date, {{ as_of_date() }}) as open_until,
        -- where it came from: the landing run of the version counted (metrics.source_runs)
        source_manifest_id
    from stops
)

select * from final
order by stop_id
