-- Every month of the plan period up to the month the data is as of: the months the facts'
-- *_month columns and plan_metric_values.period_month take.
with bounds as (
    select
        cast('{{ var("plan_start") }}' as date) as first_month,
        cast(date_trunc('month', {{ as_of_date() }}) as date) as last_month
),

months as (
    select cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as period_month
    from bounds
),

final as (
    select
        period_month,
        cast(year(period_month) as integer) as year,
        cast(quarter(period_month) as integer) as quarter,
        cast(month(period_month) as integer) as month,
        strftime(period_month, '%Y年%-m月') as label_zh,
        strftime(period_month, '%Y-%m') as label
    from months
)

select * from final
order by period_month
