{#- The one rule for "a later version of the same record replaces the earlier one"
    (sources.md): keep the row with the latest `updated_at`; among versions sharing a
    timestamp, the one received last (landing time, then position in the run).
    Spreadsheet rows: the newest file wins (file time, then path, then the later row). -#}
{% macro latest_version(key) -%}
    qualify row_number() over (
        partition by {{ key }} order by updated_at desc, _landed_at desc, _seq desc
    ) = 1
{%- endmacro %}

{% macro newest_file_row(key) -%}
    qualify row_number() over (
        partition by {{ key }} order by source_file_mtime desc, source_file_path desc, source_row_number desc
    ) = 1
{%- endmacro %}
