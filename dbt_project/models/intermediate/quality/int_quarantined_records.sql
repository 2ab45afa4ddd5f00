-- Records the staging rules set aside in this build, one row each, with the rule that set
-- it aside: what the quality gate counts in the ledger (expectations/quarantine.py) and
-- shows in its report. Records set aside at extraction are in meta.quarantine instead.
with orders as (
    select * from {{ ref('int_orders_checked') }}
    where quarantine_reason is not null
),

stops as (
    select * from {{ ref('int_exhibition_stops_checked') }}
    where quarantine_reason is not null
),

visits as (
    select * from {{ ref('int_stop_visits_checked') }}
    where quarantine_reason is not null
),

roadshows as (
    select * from {{ ref('int_roadshows_checked') }}
    where quarantine_reason is not null
),

projects as (
    select * from {{ ref('int_roadshow_projects_checked') }}
    where quarantine_reason is not null
),

reports as (
    select * from {{ ref('int_rural_centre_reports_checked') }}
    where quarantine_reason is not null
),

activities as (
    select * from {{ ref('int_ledger_activities_checked') }}
    where quarantine_reason is not null
),

final as (
    select
        'kechuang_orders' as source,
        'orders' as table_name,
        order_id as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        cast(null as varchar) as file,
        cast(null as bigint) as row_number
    from orders
    union all
    select
        'scipop_platform' as source,
        'exhibition_stops' as table_name,
        stop_id as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        cast(null as varchar) as file,
        cast(null as bigint) as row_number
    from stops
    union all
    select
        'scipop_platform' as source,
        'stop_visits' as table_name,
        stop_id || '@' || strftime(visit_date, '%Y-%m-%d') as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        cast(null as varchar) as file,
        cast(null as bigint) as row_number
    from visits
    union all
    select
        'kechuang_roadshows' as source,
        'roadshows' as table_name,
        roadshow_id as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        cast(null as varchar) as file,
        cast(null as bigint) as row_number
    from roadshows
    union all
    select
        'kechuang_roadshows' as source,
        'roadshow_projects' as table_name,
        project_id as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        cast(null as varchar) as file,
        cast(null as bigint) as row_number
    from projects
    union all
    select
        'rural_centre_reports' as source,
        'reports' as table_name,
        centre_id || '@' || strftime(report_month, '%Y-%m') as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        source_file_path as file,
        source_row_number as row_number
    from reports
    union all
    select
        'plan_ledger' as source,
        'activities' as table_name,
        metric_id || '@' || region_code || '@' || strftime(activity_date, '%Y-%m-%d') as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        quarantine_reason_key as reason_key,
        source_file_path as file,
        source_row_number as row_number
    from activities
)

select * from final
