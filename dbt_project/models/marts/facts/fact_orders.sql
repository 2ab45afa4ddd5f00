-- S3 orders at their own grain, one row per order: exactly the orders the M02 metrics count
-- (not cancelled, not set aside by a staging rule). Who placed an order (enterprise id and
-- name, contact phone) and fields the contract does not know are left out: no personal data.
with orders as (
    select * from {{ ref('int_orders_checked') }}
    where not is_cancelled and quarantine_reason is null
),

final as (
    select
        -- ids
        order_id,
        county_code,
        service_team_id,
        -- attributes
        enterprise_size,
        is_sme,
        industry,
        demand_type,
        status,
        satisfaction,
        -- timestamps and their Beijing-time months (the months the metrics use)
        placed_at,
        accepted_at,
        resolved_at,
        placed_month,
        accepted_month,
        resolved_month,
        status in ('resolved', 'closed') and resolved_at is not null as is_resolved,
        -- money, in yuan
        cast_paid_cny,
        tech_transaction_cny,
        -- where it came from: the landing run of the version counted (metrics.source_runs)
        source_manifest_id
    from orders
)

select * from final
order by order_id
