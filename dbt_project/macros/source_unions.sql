{#- The models that span every source, generated from the source registry
    (macros/source_registry.sql, written from extract/sources/__init__.py): adding a source never edits
    them. Sources come in the registry's order; every reader of these models groups or orders. -#}

{#- A record's key as one string: its key columns joined by '@', a `*_month` column as
    YYYY-MM and a `*_date` column as YYYY-MM-DD. -#}
{% macro record_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- if column.endswith('_month') -%}
            {%- do parts.append("strftime(" ~ column ~ ", '%Y-%m')") -%}
        {%- elif column.endswith('_date') -%}
            {%- do parts.append("strftime(" ~ column ~ ", '%Y-%m-%d')") -%}
        {%- else -%}
            {%- do parts.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ parts | join(" || '@' || ") }}
{%- endmacro %}

{#- int_quarantined_records: every record a staging rule of a checked model set aside. -#}
{% macro union_quarantined_records() -%}
    {%- set checked = [] -%}
    {%- for src in source_registry() -%}
        {%- for table in src['checked'] -%}
            {%- do checked.append((src, table)) -%}
        {%- endfor -%}
    {%- endfor -%}
with
{%- for src, table in checked %}
{{ src['source'] }}__{{ table['table'] }} as (
    select * from {{ ref(table['model']) }}
    where quarantine_reason is not null
),
{% endfor %}
final as (
{%- for src, table in checked %}
    select
        '{{ src["source"] }}' as source,
        '{{ table["table"] }}' as table_name,
        {{ record_key(table['key']) }} as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        {%- if src['kind'] == 'files' %}
        source_file_path as file,
        source_row_number as row_number
        {%- else %}
        cast(null as varchar) as file,
        cast(null as bigint) as row_number
        {%- endif %}
    from {{ src['source'] }}__{{ table['table'] }}
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
)

select * from final
{%- endmacro %}

{#- int_metric_events: every source's metric events. -#}
{% macro union_metric_events() -%}
    {%- set models = [] -%}
    {%- for src in source_registry() -%}
        {%- for model in src['metric_events'] -%}
            {%- do models.append(model) -%}
        {%- endfor -%}
    {%- endfor -%}
with
{%- for model in models %}
{{ model }} as (
    select * from {{ ref(model) }}
),
{% endfor %}
final as (
{%- for model in models %}
    select * from {{ model }}
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
)

select * from final
{%- endmacro %}
