-- Records the staging rules set aside in this build, one row each, with the rule that set
-- it aside: what the quality gate counts in the ledger (expectations/quarantine.py) and
-- shows in its report. Records set aside at extraction are in meta.quarantine instead.
-- One branch per checked model of the source registry (macros/source_unions.sql).
{{ union_quarantined_records() }}
