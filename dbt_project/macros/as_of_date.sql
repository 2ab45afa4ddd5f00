{#- The (Beijing) day the data is as of: meta.run_context.as_of_date (the run's data interval
    end, set by the transform DAG), else today in Beijing. Only bounds what cannot have
    happened yet. -#}
{% macro as_of_date() -%}
    coalesce({{ run_context('as_of_date') }}, cast({{ beijing_local('now()') }} as date))
{%- endmacro %}
