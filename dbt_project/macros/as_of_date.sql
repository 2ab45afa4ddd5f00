{#- The (Beijing) day the data is as of: var `as_of_date` (the run's data interval end, set by
    the transform DAG), else today in Beijing. Only bounds what cannot have happened yet. -#}
{% macro as_of_date() -%}
    {%- if var('as_of_date', none) -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        cast({{ beijing_local('now()') }} as date)
    {%- endif -%}
{%- endmacro %}
