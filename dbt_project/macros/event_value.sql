{#- The one type every metric event's value has: an exact decimal, so aggregates are
    deterministic (10 places keep hours and shares far inside the 1e-9 the contract needs). -#}
{% macro event_value(expr) -%}
    cast({{ expr }} as decimal(38, 10))
{%- endmacro %}
