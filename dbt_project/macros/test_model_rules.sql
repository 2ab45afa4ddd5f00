{#- One test query per model for the properties its columns must have — its key unique and
    not null, other columns not null, values from a set, codes that exist in another
    relation — instead of one dbt node per column and property: each node costs dbt its own
    round trip, and over a view each re-ran the view. The model is read once (a materialized
    CTE); each failing row says which rule it broke.
    key: columns that identify a row; not_null: further columns; accepted_values: {column:
    [values]}; references: {column: {to: relation, field: column}} (nulls are not checked). -#}
{% test model_rules(model, key=[], not_null=[], accepted_values={}, references={}) %}
with checked_rows as materialized (
    select * from {{ model }}
),

failures as (
    select cast(null as varchar) as rule, cast(null as varchar) as failing_value where false
    {%- if key %}
    union all
    select 'unique: {{ key | join(", ") }}' as rule, concat_ws(' / ', {{ key | join(', ') }}) as failing_value
    from checked_rows
    group by {{ key | join(', ') }}
    having count(*) > 1
    {%- endif %}
    {%- for column in key + not_null %}
    union all
    select 'not_null: {{ column }}' as rule, null as failing_value
    from checked_rows
    where {{ column }} is null
    {%- endfor %}
    {%- for column, values in accepted_values.items() %}
    union all
    select 'accepted_values: {{ column }}' as rule, cast({{ column }} as varchar) as failing_value
    from checked_rows
    where {{ column }} is not null
      and cast({{ column }} as varchar) not in ({% for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endfor %}
    {%- for column, target in references.items() %}
    union all
    select 'references: {{ column }} -> {{ target.to }}.{{ target.field }}' as rule, cast(c.{{ column }} as varchar) as failing_value
    from checked_rows as c
    where c.{{ column }} is not null
      and not exists (select 1 from {{ target.to }} as t where t.{{ target.field }} = c.{{ column }})
    {%- endfor %}
)

select * from failures
{% endtest %}
