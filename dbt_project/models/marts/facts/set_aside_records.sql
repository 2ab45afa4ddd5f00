-- The records a staging rule set aside in this build (int_quarantined_records' records), one row
-- per record and month it would have counted in, with the region and month a metric value is
-- asked for (warehouse/reader_tables.py adds the spreadsheet rows set aside when they were
-- read, stage extract): what "why is this number X?" shows as set aside for a metric, region and month
-- (metric_facts.set_aside_datasets names the datasets of each metric). Keys, codes, months,
-- the rule's reason key and where the record came from only: never a value, a name or free text.
with orders as (
    select * from {{ ref('int_orders_checked') }}
    where quarantine_reason is not null
),

roadshows as (
    select * from {{ ref('int_roadshows_checked') }}
),

projects as (
    select * from {{ ref('int_roadshow_projects_checked') }}
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

reports as (
    select * from {{ ref('int_rural_centre_reports_checked') }}
    where quarantine_reason is not null
),

activities as (
    select * from {{ ref('int_ledger_activities_checked') }}
    where quarantine_reason is not null
),

order_months as (
    select
        order_id,
        county_code,
        'placed_month' as month_column,
        placed_month as period_month,
        quarantine_column,
        quarantine_reason_key,
        source_manifest_id
    from orders
    union all
    select
        order_id,
        county_code,
        'accepted_month' as month_column,
        accepted_month as period_month,
        quarantine_column,
        quarantine_reason_key,
        source_manifest_id
    from orders
    where accepted_month is not null
    union all
    select
        order_id,
        county_code,
        'resolved_month' as month_column,
        resolved_month as period_month,
        quarantine_column,
        quarantine_reason_key,
        source_manifest_id
    from orders
    where resolved_month is not null
),

unioned as (
    select
        'staging' as stage,
        'kechuang_orders' as source,
        'orders' as dataset,
        order_id as record_key,
        cast(null as varchar) as metric_id,
        county_code as region_code,
        month_column,
        period_month,
        quarantine_column as column_name,
        quarantine_reason_key as reason_key,
        source_manifest_id,
        cast(null as varchar) as source_file,
        cast(null as varchar) as source_sheet,
        cast(null as bigint) as source_row
    from order_months
    union all
    select
        'staging' as stage,
        'kechuang_roadshows' as source,
        'roadshows' as dataset,
        roadshow_id as record_key,
        cast(null as varchar) as metric_id,
        hub_city_code as region_code,
        'held_month' as month_column,
        held_month as period_month,
        quarantine_column as column_name,
        quarantine_reason_key as reason_key,
        source_manifest_id,
        cast(null as varchar) as source_file,
        cast(null as varchar) as source_sheet,
        cast(null as bigint) as source_row
    from roadshows
    where quarantine_reason is not null
    union all
    select
        'staging' as stage,
        'kechuang_roadshows' as source,
        'roadshow_projects' as dataset,
        p.project_id as record_key,
        cast(null as varchar) as metric_id,
        r.hub_city_code as region_code,
        'held_month' as month_column,
        r.held_month as period_month,
        p.quarantine_column as column_name,
        p.quarantine_reason_key as reason_key,
        p.source_manifest_id,
        cast(null as varchar) as source_file,
        cast(null as varchar) as source_sheet,
        cast(null as bigint) as source_row
    from projects as p
    left join roadshows as r on p.roadshow_id = r.roadshow_id
    union all
    select
        'staging' as stage,
        'scipop_platform' as source,
        'exhibition_stops' as dataset,
        stop_id as record_key,
        cast(null as varchar) as metric_id,
        host_county_code as region_code,
        'start_month' as month_column,
        cast(date_trunc('month', start_date) as date) as period_month,
        quarantine_column as column_name,
        quarantine_reason_key as reason_key,
        source_manifest_id,
        cast(null as varchar) as source_file,
        cast(null as varchar) as source_sheet,
        cast(null as bigint) as source_row
    from stops
    union all
    select
        'staging' as stage,
        'scipop_platform' as source,
        'stop_visits' as dataset,
        {{ record_key(['stop_id', 'visit_date']) }} as record_key,
        cast(null as varchar) as metric_id,
        host_county_code as region_code,
        'visit_month' as month_column,
        visit_month as period_month,
        quarantine_column as column_name,
        quarantine_reason_key as reason_key,
        source_manifest_id,
        cast(null as varchar) as source_file,
        cast(null as varchar) as source_sheet,
        cast(null as bigint) as source_row
    from visits
    union all
    select
        'staging' as stage,
        'rural_centre_reports' as source,
        'reports' as dataset,
        {{ record_key(['centre_id', 'report_month']) }} as record_key,
        cast(null as varchar) as metric_id,
        county_code as region_code,
        'report_month' as month_column,
        report_month as period_month,
        quarantine_column as column_name,
        quarantine_reason_key as reason_key,
        source_manifest_id,
        source_file_path as source_file,
        source_sheet,
        source_row_number as source_row
    from reports
    union all
    select
        'staging' as stage,
        'plan_ledger' as source,
        'activities' as dataset,
        {{ record_key(['metric_id', 'region_code', 'activity_date']) }} as record_key,
        metric_id,
        region_code,
        'activity_month' as month_column,
        activity_month as period_month,
        quarantine_column as column_name,
        quarantine_reason_key as reason_key,
        source_manifest_id,
        source_file_path as source_file,
        source_sheet,
        source_row_number as source_row
    from activities
),

final as (
    select * from unioned
)

select * from final
order by source, dataset, record_key, month_column
