{#- Written by `python -m extract.sources dbt-registry` from the source registry
    (extract/sources/__init__.py): do not edit. Each source's checked models with their keys and its
    metric-event models, which the union models read (macros/source_unions.sql). -#}
{% macro source_registry() -%}
{{ return([
    {"source": "scipop_platform", "kind": "http", "checked": [{"table": "exhibition_stops", "model": "int_exhibition_stops_checked", "key": ["stop_id"]}, {"table": "stop_visits", "model": "int_stop_visits_checked", "key": ["stop_id", "visit_date"]}], "metric_events": ["int_mobile_museum_metric_events"]},
    {"source": "kechuang_roadshows", "kind": "http", "checked": [{"table": "roadshows", "model": "int_roadshows_checked", "key": ["roadshow_id"]}, {"table": "roadshow_projects", "model": "int_roadshow_projects_checked", "key": ["project_id"]}], "metric_events": ["int_roadshow_metric_events"]},
    {"source": "kechuang_orders", "kind": "http", "checked": [{"table": "orders", "model": "int_orders_checked", "key": ["order_id"]}], "metric_events": ["int_order_metric_events"]},
    {"source": "rural_centre_reports", "kind": "files", "checked": [{"table": "reports", "model": "int_rural_centre_reports_checked", "key": ["centre_id", "report_month"]}], "metric_events": ["int_rural_centre_metric_events"]},
    {"source": "plan_ledger", "kind": "files", "checked": [{"table": "activities", "model": "int_ledger_activities_checked", "key": ["metric_id", "region_code", "activity_date"]}], "metric_events": ["int_ledger_metric_events"]}
]) }}
{%- endmacro %}
