{#- The shape every *_checked model gives a record: the first rule it breaks, as
    quarantine_column / quarantine_value / quarantine_reason (all null when it breaks none).
    `rules` is a list of (condition, column as the source names it, value expression, reason);
    int_quarantined_records lists the records with a reason, the metric events read the rest. -#}
{% macro quarantine_columns(rules) -%}
    case
        {%- for condition, column, value, reason in rules %}
        when {{ condition }} then '{{ column }}'
        {%- endfor %}
    end as quarantine_column,
    case
        {%- for condition, column, value, reason in rules %}
        when {{ condition }} then cast({{ value }} as varchar)
        {%- endfor %}
    end as quarantine_value,
    case
        {%- for condition, column, value, reason in rules %}
        when {{ condition }} then '{{ reason }}'
        {%- endfor %}
    end as quarantine_reason
{%- endmacro %}

{#- The first day of the month the data is as of: no event may be dated in a later month. -#}
{% macro as_of_month() -%}
    cast(date_trunc('month', {{ as_of_date() }}) as date)
{%- endmacro %}

{#- A (month or date) expression outside the plan period — before 2020-07 or after the as-of
    month. A null (an event that has not happened) is never outside. -#}
{% macro outside_plan_period(expr) -%}
    ({{ expr }} < cast('{{ var("plan_start") }}' as date) or {{ expr }} >= {{ as_of_month() }} + interval 1 month)
{%- endmacro %}
