-- MetricFlow's time spine (dbt's YAML form, `time_spine:` in _semantic__models.yml): every day
-- of the months dim_months holds (the plan's start to the month the data is as of). MetricFlow
-- requires a day spine; the semantic layer's own time dimensions are all months.
-- A view over a published table: the ref leaves the database name out (the publish copies it).
{{ config(materialized='view') }}

with months as (
    select * from {{ ref('dim_months').include(database=False) }}
),

final as (
    select
        cast(
            unnest(generate_series(min(period_month), last_day(max(period_month)), interval 1 day)) as date
        ) as date_day
    from months
)

select * from final
