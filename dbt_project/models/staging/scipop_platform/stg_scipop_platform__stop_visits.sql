-- Incremental: one row per stop and day, corrected later by newer versions. Each run re-reads
-- only the stop-days with a raw version loaded since (newest version held − lookback) and
-- recomputes their latest version from all their raw versions, so a late correction of an old
-- day is caught and the result equals a full refresh (tests/dbt/test_dbt_incremental.py).
{{ config(
    materialized='incremental',
    unique_key=['stop_id', 'visit_date'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with source as (
    select * from {{ source('scipop_platform', 'scipop_platform__stop_visits') }}
),

{% if is_incremental() %}
touched as (
    select distinct stop_id, visit_date from source
    where _loaded_at > (
        select coalesce(max(last_loaded_at), '-infinity'::timestamptz) from {{ this }}
    ) - interval {{ var('incremental_lookback_hours') }} hour
),
{% endif %}

renamed as (
    select
        -- ids
        s.stop_id,
        cast(s.visit_date as date) as visit_date,
        -- measures
        s.visitors,
        coalesce(s.student_visitors, 0) as student_visitors,
        -- dates are local (Beijing) calendar dates already
        cast(date_trunc('month', cast(s.visit_date as date)) as date) as visit_month,
        cast(s.updated_at as timestamp with time zone) as updated_at,
        -- lineage
        s._extra as extra_fields,
        s._manifest_id as source_manifest_id,
        max(s._loaded_at) over (partition by s.stop_id, s.visit_date) as last_loaded_at,
        s._landed_at,
        s._seq,
        s.visit_date as _raw_visit_date
    from source as s
    {% if is_incremental() %}
    semi join touched t on s.stop_id = t.stop_id and s.visit_date = t.visit_date
    {% endif %}
),

latest as (
    select * from renamed
    {{ latest_version('stop_id, _raw_visit_date') }}
),

final as (
    select * exclude (_landed_at, _seq, _raw_visit_date) from latest
)

select * from final
