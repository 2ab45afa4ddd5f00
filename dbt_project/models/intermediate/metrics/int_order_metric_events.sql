-- M02 (order service) metric events, one row per order and metric, at the order's county.
-- Cancelled orders never count (metrics.md), nor orders a rule set aside (int_orders_checked).
-- Values are exact decimals so that sums are the same whatever order DuckDB's threads add
-- them in (doubles would differ in the last bit).
with orders as (
    select * from {{ ref('int_orders_checked') }}
    where not is_cancelled and quarantine_reason is null
),

placed as (
    select
        'orders_placed' as metric_id,
        county_code as region_code,
        placed_month as period_month,
        {{ event_value('1') }} as value,
        order_id as entity_id
    from orders
),

sme_share as (
    select
        'orders_sme_share' as metric_id,
        county_code as region_code,
        placed_month as period_month,
        {{ event_value('case when is_sme then 1 else 0 end') }} as value,
        order_id as entity_id
    from orders
),

accepted as (
    select
        'orders_accepted' as metric_id,
        county_code as region_code,
        accepted_month as period_month,
        {{ event_value('1') }} as value,
        order_id as entity_id
    from orders
    where accepted_at is not null
),

acceptance_hours as (
    select
        'orders_acceptance_hours_median' as metric_id,
        county_code as region_code,
        accepted_month as period_month,
        {{ event_value('(epoch(accepted_at) - epoch(placed_at)) / 3600.0') }} as value,
        order_id as entity_id
    from orders
    where accepted_at is not null
),

resolved_orders as (
    select * from orders
    where status in ('resolved', 'closed') and resolved_at is not null
),

resolved as (
    select
        'orders_resolved' as metric_id,
        county_code as region_code,
        resolved_month as period_month,
        {{ event_value('1') }} as value,
        order_id as entity_id
    from resolved_orders
),

cast_paid as (
    select
        'orders_cast_paid_cny' as metric_id,
        county_code as region_code,
        resolved_month as period_month,
        {{ event_value('cast_paid_cny') }} as value,
        order_id as entity_id
    from resolved_orders
),

tech_transaction as (
    select
        'orders_tech_transaction_cny' as metric_id,
        county_code as region_code,
        resolved_month as period_month,
        {{ event_value('tech_transaction_cny') }} as value,
        order_id as entity_id
    from resolved_orders
),

final as (
    select * from placed
    union all
    select * from sme_share
    union all
    select * from accepted
    union all
    select * from acceptance_hours
    union all
    select * from resolved
    union all
    select * from cast_paid
    union all
    select * from tech_transaction
)

select * from final
