-- The S1 rural-centre registry as this build holds it (the latest version of each centre),
-- for the people who send the S4 reports: each county's template lists its active centres
-- (extract/templates.py), the pre-check checks report rows against it (extract/precheck.py),
-- and unreported_centres says who has not reported.
with centres as (
    select * from {{ ref('stg_scipop_platform__rural_centres') }}
),

final as (
    select
        centre_id,
        school_name,
        county_code,
        opened_on,
        status,
        is_active
    from centres
)

select * from final
