{#- Beijing-time (UTC+8) calendar helpers for timestamptz values. A fixed offset is
    correct here (China has had no daylight saving since 1991) and needs no tz database. -#}
{% macro beijing_local(ts) -%}
    ((cast({{ ts }} as timestamp with time zone) at time zone 'UTC') + interval 8 hour)
{%- endmacro %}

{% macro beijing_month(ts) -%}
    cast(date_trunc('month', {{ beijing_local(ts) }}) as date)
{%- endmacro %}
