{#- Additive metrics: the province row equals the sum of its prefecture rows, month by month
    (to a tenth of a cent, which absorbs double rounding but not a real difference). -#}
{% test province_equals_sum_of_prefectures(model) %}
with additive as (
    select * from {{ model }} where unit in ('count', 'person_times', 'cny')
),
prefecture_sums as (
    select metric_id, period_month, sum(value) as prefecture_total
    from additive where region_level = 'prefecture' group by all
),
province as (
    select metric_id, period_month, value as province_total
    from additive where region_level = 'province'
)
select p.metric_id, p.period_month, p.province_total, coalesce(s.prefecture_total, 0) as prefecture_total
from province p
left join prefecture_sums s using (metric_id, period_month)
where abs(p.province_total - coalesce(s.prefecture_total, 0)) > 0.001
{% endtest %}
