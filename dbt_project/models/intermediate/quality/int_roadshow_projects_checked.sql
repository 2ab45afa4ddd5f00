-- S2 roadshow projects with the reason each is set aside: its roadshow is unknown (never
-- served, or quarantined at extraction) or set aside by a rule. A project of a scheduled or
-- cancelled roadshow is not set aside: it simply counts nowhere.
with projects as (
    select * from {{ ref('stg_kechuang_roadshows__roadshow_projects') }}
),

roadshows as (
    select * from {{ ref('int_roadshows_checked') }}
),

joined as (
    select
        p.*,
        r.roadshow_id is null as is_unknown_roadshow,
        r.quarantine_reason is not null as is_roadshow_set_aside
    from projects as p
    left join roadshows as r on p.roadshow_id = r.roadshow_id
),

checked as (
    select
        *,
        {{ quarantine_columns([
            ('is_unknown_roadshow', 'roadshow_id', 'roadshow_id', 'unknown roadshow (not served by the source or quarantined at extraction)', 'unknown_parent'),
            ('is_roadshow_set_aside', 'roadshow_id', 'roadshow_id', 'its roadshow is quarantined', 'parent_set_aside'),
        ]) }}
    from joined
),

final as (
    select * exclude (is_unknown_roadshow, is_roadshow_set_aside) from checked
)

select * from final
