-- The semantic layer's grain for literacy_survey_prefectures: one row per ledger metric,
-- prefecture-level unit and month with a ledger row of value above zero (a county-coded row
-- counts for its prefecture; a province-coded row for none). MetricFlow counts distinct
-- values of a fact's own columns; the prefecture of a ledger row is in regions, so this view
-- brings it in. A view over published tables: the refs leave the database name out.
{{ config(materialized='view') }}

with activities as (
    select * from {{ ref('fact_ledger_activities').include(database=False) }}
    where value > 0
),

regions as (
    select * from {{ ref('regions').include(database=False) }}
    where level <> 'province'
),

final as (
    select distinct
        a.metric_id,
        r.prefecture_code,
        a.activity_month
    from activities as a
    inner join regions as r on a.region_code = r.region_code
)

select * from final
