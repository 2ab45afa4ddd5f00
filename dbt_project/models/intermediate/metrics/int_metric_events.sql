-- All metric events of all sources, at the region the source gives. A table: both marts and
-- the quality gate aggregate it, several times over (one aggregate per kind of aggregation),
-- and recomputing the sources' event models for each would cost far more than writing it once.
{{ config(materialized='table') }}

with orders as (
    select * from {{ ref('int_order_metric_events') }}
),

roadshows as (
    select * from {{ ref('int_roadshow_metric_events') }}
),

mobile_museums as (
    select * from {{ ref('int_mobile_museum_metric_events') }}
),

rural_centres as (
    select * from {{ ref('int_rural_centre_metric_events') }}
),

ledger as (
    select * from {{ ref('int_ledger_metric_events') }}
),

final as (
    select * from orders
    union all
    select * from roadshows
    union all
    select * from mobile_museums
    union all
    select * from rural_centres
    union all
    select * from ledger
)

select * from final
