-- The semantic layer's grain for mobile_museum_stops_open: one row per stop (not cancelled)
-- and month it was open on at least one day (start_date … open_until, as dim_stops holds
-- them). MetricFlow counts rows; it cannot spread a date range over months, so this view does.
-- A view over published tables (no data of its own): the publish copies its SQL into the
-- published file, so the refs leave the database name out.
{{ config(materialized='view') }}

with stops as (
    select * from {{ ref('dim_stops').include(database=False) }}
    where not is_cancelled and start_date <= open_until
),

final as (
    select
        stop_id,
        host_county_code,
        cast(
            unnest(
                generate_series(
                    date_trunc('month', start_date), date_trunc('month', open_until), interval 1 month
                )
            ) as date
        ) as open_month
    from stops
)

select * from final
