{#- The one rule for "a later version of the same record replaces the earlier one"
    (sources.md): the version received last wins — the landing run received later, then the
    later position within a run. A source serves each record's current state, so a record
    received again in a later run is at least as new as before (an unchanged version is
    never stored twice), and a record read twice in one run (it changed while its listing
    was read) comes later the second time. `updated_at` comes from the source's clock, which
    can be wrong — even years ahead — so it orders nothing here: a version stamped in 2050
    must not outrank the corrections that follow it.
    Spreadsheet rows: the file received last wins — the landing run received later, then the
    file the run received later (its order of arrival, extract/drops.py), then the later row.
    The sender's modification time orders nothing: copies and unzipping keep it from the
    sender's machine, whose clock may be years off. Rows landed before the reception order
    was recorded (no received_seq) fall back on the file time within their run. -#}
{% macro latest_version(key) -%}
    qualify row_number() over (
        partition by {{ key }} order by _landed_at desc, _seq desc
    ) = 1
{%- endmacro %}

{% macro newest_file_row(key) -%}
    qualify row_number() over (
        partition by {{ key }}
        order by source_landed_at desc, source_received_seq desc nulls last, source_file_mtime desc,
            source_file_path desc, source_row_number desc
    ) = 1
{%- endmacro %}
