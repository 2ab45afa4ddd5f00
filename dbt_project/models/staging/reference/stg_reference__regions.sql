-- Every region code a published row or a source record may carry: the county-level units,
-- the 17 prefecture-level units and the province 420000 (行政区划). The four
-- province-administered units are listed once, as prefectures.
with divisions as (
    select * from {{ ref('hubei_divisions') }}
),

counties as (
    select
        county_code as region_code,
        county_name as region_name,
        'county' as region_level,
        prefecture_code
    from divisions
    where county_code <> prefecture_code
),

prefectures as (
    select distinct
        prefecture_code as region_code,
        prefecture_name as region_name,
        'prefecture' as region_level,
        prefecture_code
    from divisions
),

province as (
    select
        '420000' as region_code,
        '湖北省' as region_name,
        'province' as region_level,
        cast(null as varchar) as prefecture_code
),

final as (
    select * from counties
    union all
    select * from prefectures
    union all
    select * from province
)

select * from final
