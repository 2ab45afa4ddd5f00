-- Records the staging rules set aside in this build, one row each, with the rule that set
-- it aside: what the quality gate counts in the ledger (expectations/quarantine.py) and
-- shows in its report. Records set aside at extraction are in meta.quarantine instead.
with rural_centre_reports as (
    select * from {{ ref('int_rural_centre_reports_checked') }}
    where quarantine_reason is not null
),

final as (
    select
        'rural_centre_reports' as source,
        'reports' as table_name,
        centre_id || '@' || strftime(report_month, '%Y-%m') as record_key,
        quarantine_column as column_name,
        quarantine_value as value,
        quarantine_reason as reason,
        source_file_path as file,
        source_row_number as row_number
    from rural_centre_reports
)

select * from final
