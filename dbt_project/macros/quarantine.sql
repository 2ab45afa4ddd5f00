{#- The shape every *_checked model gives a record: the first rule it breaks, as
    quarantine_column / quarantine_value / quarantine_reason / quarantine_reason_key (all null
    when it breaks none). `rules` is a list of (condition, column as the source names it, value
    expression, reason, reason key): the key is the reason's row in seeds/quarantine_reasons.csv.
    int_quarantined_records lists the records with a reason, the metric events read the rest. -#}
{% macro quarantine_columns(rules) -%}
    {%- if not rules -%}
    {#- a new source's checked model before its first rule: nothing is set aside -#}
    cast(null as varchar) as quarantine_column,
    cast(null as varchar) as quarantine_value,
    cast(null as varchar) as quarantine_reason,
    cast(null as varchar) as quarantine_reason_key
    {%- else -%}
    case
        {%- for condition, column, value, reason, key in rules %}
        when {{ condition }} then '{{ column }}'
        {%- endfor %}
    end as quarantine_column,
    case
        {%- for condition, column, value, reason, key in rules %}
        when {{ condition }} then cast({{ value }} as varchar)
        {%- endfor %}
    end as quarantine_value,
    case
        {%- for condition, column, value, reason, key in rules %}
        when {{ condition }} then '{{ reason }}'
        {%- endfor %}
    end as quarantine_reason,
    case
        {%- for condition, column, value, reason, key in rules %}
        when {{ condition }} then '{{ key }}'
        {%- endfor %}
    end as quarantine_reason_key
    {%- endif %}
{%- endmacro %}

{#- The staging rules of a drop-folder source as quarantine_columns' rules: they live in
    dbt_project.yml (`drop_rules`), where the pre-check (extract/precheck.py) reads them too.
    The model provides their columns: is_unknown_centre (S4), plan_start and as_of_month. -#}
{% macro drop_rules(source) -%}
    {%- set rules = [] -%}
    {%- for rule in var('drop_rules')[source] -%}
        {%- do rules.append((rule['when'], rule['column'], rule['value'], rule['reason'], rule['key'])) -%}
    {%- endfor -%}
    {{ quarantine_columns(rules) }}
{%- endmacro %}

{#- The columns drop_rules' conditions read besides the row's own: the plan's first month and
    the month the data is as of. -#}
{% macro rule_period_columns() -%}
    cast('{{ var("plan_start") }}' as date) as plan_start,
    {{ as_of_month() }} as as_of_month
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
