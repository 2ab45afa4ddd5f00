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
    select county_code as region_code, county_code as rollup_region_code, 'county' as rollup_level
    from counties where not is_province_administered
    union all
    select county_code, prefecture_code, 'prefecture' from counties where not is_province_administered
    union all
    select county_code, '420000', 'province' from counties where not is_province_administered
    union all
    select prefecture_code, prefecture_code, 'prefecture' from prefectures
    union all
    select prefecture_code, '420000', 'province' from prefectures
    union all
    select '420000', '420000', 'province'
)

select * from final
