{#- The value of one metric over a group of its events (a region × month, or a region over the
    whole plan period), by the metric's aggregation in metric_definitions. Used by
    plan_metric_values and plan_progress so both recompute levels the same way.
    report_rate: events of value 1 are centres reporting, events of value 0 the centres that
    should (see int_rural_centre_metric_events); null where the denominator is zero. -#}
{% macro aggregate_metric(aggregation, value, entity_id) -%}
    case {{ aggregation }}
        when 'sum' then sum({{ value }})
        when 'median' then median({{ value }})
        when 'mean' then sum({{ value }}) / count(*)
        when 'distinct_count' then cast(count(distinct {{ entity_id }}) as double)
        when 'report_rate' then
            cast(count(distinct {{ entity_id }}) filter (where {{ value }} = 1) as double)
            / nullif(count(distinct {{ entity_id }}) filter (where {{ value }} = 0), 0)
    end
{%- endmacro %}

{#- Whether a metric is 0 where nothing happened (a sum or a count of no records), rather than
    undefined (a median, mean or rate of no records): such metrics get a zero-filled province
    row for every month of their span (metrics.md) and 0 progress before their first record. -#}
{% macro zero_when_nothing_happened(aggregation) -%}
    ({{ aggregation }} in ('sum', 'distinct_count'))
{%- endmacro %}
