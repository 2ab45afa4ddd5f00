-- Every region code a record can carry, mapped to each region it counts in: a county to
-- itself, its prefecture and the province; a prefecture to itself and the province. The
-- four province-administered units are their own prefecture and get no county row.
with divisions as (
    select * from {{ ref('hubei_divisions') }}
),

counties as (
    select
        county_code,
        prefecture_code,
        county_code = prefecture_code as is_province_administered
    from divisions
),

prefectures as (
    select distinct prefecture_code from divisions
),

final as (
    select
        county_code as region_code,
        county_code as rollup_region_code,
        'county' as rollup_level
    from counties
    where not is_province_administered
    union all
    select
        county_code as region_code,
        prefecture_code as rollup_region_code,
        'prefecture' as rollup_level
    from counties
    where not is_province_administered
    union all
    select
        county_code as region_code,
        '420000' as rollup_region_code,
        'province' as rollup_level
    from counties
    where not is_province_administered
    union all
    select
        prefecture_code as region_code,
        prefecture_code as rollup_region_code,
        'prefecture' as rollup_level
    from prefectures
    union all
    select
        prefecture_code as region_code,
        '420000' as rollup_region_code,
        'province' as rollup_level
    from prefectures
    union all
    select
        '420000' as region_code,
        '420000' as rollup_region_code,
        'province' as rollup_level
)

select * from final
