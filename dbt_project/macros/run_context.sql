{#- What a run is for — its publish id and the day its data is as of — lives in one row of
    meta.run_context, written by warehouse/transform.py before each build, not in dbt vars:
    a var that changes every run makes dbt re-parse the whole project every run (~5 s per
    publish, measured), while a table changes nothing dbt parses. -#}
{% macro run_context(column) -%}
    (select {{ column }} from meta.run_context)
{%- endmacro %}

{#- on-run-start: a hand-run `dbt build` on a database no pipeline run has built gets publish id
    'dev' and "as of today"; on one the pipeline built, it reuses the last run's row
    (warehouse.transform.write_run_context sets it). -#}
{% macro create_run_context() %}
    create schema if not exists meta;
    create table if not exists meta.run_context as
        select cast('dev' as varchar) as publish_id, cast(null as date) as as_of_date
{% endmacro %}
