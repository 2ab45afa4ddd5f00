-- All metric events of all sources, at the region the source gives. A table: both marts and
-- the quality gate aggregate it, several times over (one aggregate per kind of aggregation),
-- and recomputing the sources' event models for each would cost far more than writing it once.
-- One branch per metric-events model of the source registry (macros/source_unions.sql).
{{ config(materialized='table') }}

{{ union_metric_events() }}
