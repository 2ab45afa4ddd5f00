-- S3 orders with the first rule each breaks (macros/quarantine.sql): an event dated before
-- the plan or after the month the data is as of (a year typed wrong, a skewed clock), or a
-- history that runs backwards. Such an order is set aside whole: none of its metrics count.
with orders as (
    select * from {{ ref('stg_kechuang_orders__orders') }}
),

checked as (
    select
        *,
        {{ quarantine_columns([
            (outside_plan_period('placed_month'), 'placed_at', 'placed_at', 'placed_at outside the plan period up to the as-of month', 'event_outside_plan'),
            (outside_plan_period('accepted_month'), 'accepted_at', 'accepted_at', 'accepted_at outside the plan period up to the as-of month', 'event_outside_plan'),
            (outside_plan_period('resolved_month'), 'resolved_at', 'resolved_at', 'resolved_at outside the plan period up to the as-of month', 'event_outside_plan'),
            ('accepted_at < placed_at', 'accepted_at', 'accepted_at', 'accepted before it was placed', 'out_of_order'),
            ('resolved_at < accepted_at', 'resolved_at', 'resolved_at', 'resolved before it was accepted', 'out_of_order'),
        ]) }}
    from orders
),

final as (
    select * from checked
)

select * from final
