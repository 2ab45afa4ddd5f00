{#- The value of each metric over groups of its events (a region × month, or a region over
    the whole plan period), by the metric's aggregation in metric_definitions: one aggregate
    per kind of aggregation, each over only the events of its metrics. So the costly ones —
    medians, and distinct counts, which DuckDB rewrites into hash group-bys over every row —
    run over the few events that need them, not over all (the stop-day visits are sums).
    Used by plan_metric_values and plan_progress so both recompute levels the same way.
    `columns`: the group's output columns; `group_by`: the same, unaliased; `from_where`: a
    FROM … WHERE … over the events `e` joined to the definitions `d` (the kind is added to the
    WHERE). report_rate: events of value 1 are centres reporting, events of value 0 the
    centres that should (see int_rural_centre_metric_events); null where the denominator is 0. -#}
{% macro aggregate_events(columns, group_by, from_where) -%}
    {%- set kinds = [
        ('sum', 'sum(e.value)'),
        ('mean', 'sum(e.value) / count(*)'),
        ('median', 'median(e.value)'),
        ('distinct_count', 'cast(count(distinct e.entity_id) as double)'),
        ('report_rate', 'cast(count(distinct e.entity_id) filter (where e.value = 1) as double)'
            ~ ' / nullif(count(distinct e.entity_id) filter (where e.value = 0), 0)'),
    ] -%}
    {%- for kind, expression in kinds %}
    {% if not loop.first %}union all{% endif %}
    select
        {{ columns }},
        {{ expression }} as value
    {{ from_where }} and d.aggregation = '{{ kind }}'
    group by {{ group_by }}
    {%- endfor %}
{%- endmacro %}

{#- Whether a metric is 0 where nothing happened (a sum or a count of no records), rather than
    undefined (a median, mean or rate of no records): such metrics get a zero-filled province
    row for every month of their span (metrics.md) and 0 progress before their first record. -#}
{% macro zero_when_nothing_happened(aggregation) -%}
    ({{ aggregation }} in ('sum', 'distinct_count'))
{%- endmacro %}
