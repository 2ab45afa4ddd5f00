-- M03–M09 metric events from the plan activity ledger (S5 sheet 台账): each row's 数值 at
-- the row's region (county, prefecture or 420000) and the month of its 日期. Only catalog
-- metrics whose source is S5 are taken, so a ledger row can never double a system's metric.
--
-- literacy_survey_prefectures is a distinct count of prefectures: a row of value > 0 becomes
-- an event at its prefecture (a county row counts for its prefecture) with the prefecture as
-- entity, so prefecture rows are 1 and the province row counts distinct prefectures. A row
-- coded 420000 names no prefecture and does not count.
with activities as (
    select * from {{ ref('int_ledger_activities_checked') }}
    where quarantine_reason is null
),

definitions as (
    select * from {{ ref('metric_definitions') }}
),

divisions as (
    select * from {{ ref('hubei_divisions') }}
),

ledger_sums as (
    select
        a.metric_id,
        a.region_code,
        a.activity_month as period_month,
        {{ event_value('a.value') }} as value,
        a.metric_id || '@' || a.region_code || '@' || strftime(a.activity_date, '%Y-%m-%d') as entity_id
    from activities as a
    inner join definitions as d using (metric_id)
    where d.source = 'S5' and d.aggregation = 'sum' and a.value is not null
),

region_prefectures as (
    select
        county_code as region_code,
        prefecture_code
    from divisions
    union
    select
        prefecture_code as region_code,
        prefecture_code
    from divisions
),

literacy_prefectures as (
    select
        'literacy_survey_prefectures' as metric_id,
        r.prefecture_code as region_code,
        a.activity_month as period_month,
        {{ event_value('1') }} as value,
        r.prefecture_code as entity_id
    from activities as a
    inner join region_prefectures as r using (region_code)
    where a.metric_id = 'literacy_survey_prefectures' and a.value > 0
),

final as (
    select * from ledger_sums
    union all
    select * from literacy_prefectures
)

select * from final
