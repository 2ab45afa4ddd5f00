{#- Additive metrics: the province row equals the sum of its prefecture rows, month by month,
    plus what sources record at the province itself (ledger rows coded 420000, passed in as
    `events` with the metric's aggregation from `definitions`): "the province row covers
    everything". To a tenth of a cent, which absorbs double rounding but not a real difference. -#}
{% test province_equals_sum_of_prefectures(model, events=none, definitions=none) %}
with additive as (
    select * from {{ model }} where unit in ('count', 'person_times', 'cny')
),
prefecture_sums as (
    select metric_id, period_month, sum(value) as prefecture_total
    from additive where region_level = 'prefecture' group by all
),
province_direct as (
    {% if events is not none %}
    select e.metric_id, e.period_month, sum(e.value) as direct_total
    from {{ events }} e
    join {{ definitions }} d using (metric_id)
    where e.region_code = '420000' and d.aggregation = 'sum'
    group by all
    {% else %}
    select null::varchar as metric_id, null::date as period_month, 0 as direct_total where false
    {% endif %}
),
province as (
    select metric_id, period_month, value as province_total
    from additive where region_level = 'province'
)
select p.metric_id, p.period_month, p.province_total,
       coalesce(s.prefecture_total, 0) + coalesce(d.direct_total, 0) as expected_total
from province p
left join prefecture_sums s using (metric_id, period_month)
left join province_direct d using (metric_id, period_month)
where abs(p.province_total - coalesce(s.prefecture_total, 0) - coalesce(d.direct_total, 0)) > 0.001
{% endtest %}
