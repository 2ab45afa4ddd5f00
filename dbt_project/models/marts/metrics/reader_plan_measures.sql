-- The nine measures of the package plan (一揽子计划措施) with their Chinese and English
-- titles and the organisation that leads each. Published as metrics.plan_measures (the
-- seed of the same name keeps its own, reference-schema relation).
{{ config(alias='plan_measures') }}

with measures as (
    select * from {{ ref('plan_measures') }}
),

final as (
    select
        cast(measure_code as varchar) as measure_code,
        -- quotes inside a Chinese title written the Chinese way: 开展“科创中国”枢纽城市试点
        cast(regexp_replace(title_zh, '"([^"]*)"', '“\1”', 'g') as varchar) as title_zh,
        cast(title_en as varchar) as title_en,
        cast(organizer_zh as varchar) as lead_org,
        cast(implementer_zh as varchar) as implementer_zh,
        cast(pillar_zh as varchar) as pillar_zh,
        cast(pillar_en as varchar) as pillar_en
    from measures
)

select * from final
order by measure_code
