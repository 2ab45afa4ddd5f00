-- All metric events of all sources, at the region the source gives.
select * from {{ ref('int_order_metric_events') }}
