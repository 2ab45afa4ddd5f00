{#- on-run-start: create every raw table a source has never delivered, empty, with exactly the
    columns its sources YAML lists (the one place in dbt that holds the raw contract). The
    project then builds whichever sources have landed; an existing table is never touched. -#}
{% macro create_missing_raw_tables() %}
    {% if execute %}
        {% do run_query("create schema if not exists raw") %}
        {% for src in graph.sources.values() | sort(attribute='unique_id') %}
            {% set cols = [] %}
            {% for col in src.columns.values() %}
                {% do cols.append(col.name ~ ' ' ~ col.data_type) %}
            {% endfor %}
            {% if cols %}
                {% do run_query(
                    'create table if not exists ' ~ src.schema ~ '.' ~ src.identifier ~ ' (' ~ cols | join(', ') ~ ')'
                ) %}
            {% endif %}
        {% endfor %}
    {% endif %}
    select 1
{% endmacro %}
