-- Every region code a published row can carry, named (行政区划): the county-level units,
-- the 17 prefecture-level units (the four province-administered units among them, as in
-- plan_metric_values) and the province, so readers never need the working database.
with regions as (
    select * from {{ ref('stg_reference__regions') }}
),

final as (
    select
        cast(region_code as varchar) as region_code,
        cast(region_name as varchar) as name_zh,
        cast(region_level as varchar) as level,
        cast(
            case region_level
                when 'county' then prefecture_code
                when 'prefecture' then '420000'
            end as varchar
        ) as parent_code,
        cast(prefecture_code as varchar) as prefecture_code
    from regions
)

select * from final
order by region_code
