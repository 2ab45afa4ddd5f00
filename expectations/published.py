"""Expectation suites for the published tables, defined in code and reviewed like code.

Each suite validates one DataFrame that `expectations.gate` fetches from the working
database. Where a check needs the whole table (province = sum of prefectures, every
catalog metric present) DuckDB computes a small aggregate and the suite validates that,
so what crosses into pandas stays small at any scale. The suites are generic over the
metric catalog: ids, units and aggregations come from the data, never from this file.

Every expectation here blocks the publish when it fails (metrics.md, "What blocks").
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

ADDITIVE_UNITS = ["count", "person_times", "cny"]
UNITS = ["count", "person_times", "cny", "ratio", "hours", "days"]
LEVELS = ["county", "prefecture", "province"]
KEY = ["metric_id", "region_code", "period_month"]
PROGRESS_KEY = ["metric_id", "region_code"]


def plan_metric_values(region_codes: list[str], metric_ids: list[str], months: list[str]) -> gx.ExpectationSuite:
    """Rows of metrics.plan_metric_values (fetched whole: it is bounded by metrics x regions x months)."""
    suite = gx.ExpectationSuite(name="plan_metric_values")
    for column in [*KEY, "measure_code", "region_level", "value", "unit"]:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=KEY))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="region_code", value_set=region_codes))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="region_level", value_set=LEVELS))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="metric_id", value_set=metric_ids))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="unit", value_set=UNITS))
    # months of the plan period up to the run's month, as 'YYYY-MM-01' strings
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="period_month", value_set=months))
    return suite


def additive_values() -> gx.ExpectationSuite:
    """Rows with unit count / person_times / cny: never negative."""
    suite = gx.ExpectationSuite(name="plan_metric_values__non_negative")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0))
    return suite


def ratio_values() -> gx.ExpectationSuite:
    """Rows with unit ratio: within [0, 1]."""
    suite = gx.ExpectationSuite(name="plan_metric_values__ratios")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0, max_value=1))
    return suite


def province_reconciliation() -> gx.ExpectationSuite:
    """One row per summed metric and month: province total minus the sum of its prefectures,
    rounded to the fen (counts are whole numbers, money has two decimals), must be zero."""
    suite = gx.ExpectationSuite(name="plan_metric_values__province_totals")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="difference", min_value=0, max_value=0))
    return suite


def metric_coverage() -> gx.ExpectationSuite:
    """One row per catalog metric whose source delivered data: it must have published rows."""
    suite = gx.ExpectationSuite(name="plan_metric_values__coverage")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="published_rows", min_value=1))
    return suite


def metric_catalog(metric_ids: list[str]) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="metric_catalog")
    for column in ["metric_id", "measure_code", "name_zh", "name_en", "unit", "source"]:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="metric_id"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="unit", value_set=UNITS))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="source", value_set=["S1", "S2", "S3", "S4", "S5"]))
    return suite


def plan_progress(region_codes: list[str], metric_ids: list[str], months: list[str]) -> gx.ExpectationSuite:
    """Rows of metrics.plan_progress (one per target of the S5 目标 sheet)."""
    suite = gx.ExpectationSuite(name="plan_progress")
    for column in [*PROGRESS_KEY, "measure_code", "target_value"]:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=PROGRESS_KEY))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="region_code", value_set=region_codes))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="metric_id", value_set=metric_ids))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="as_of_month", value_set=months))
    # a completion ratio above 1 is an over-achieved target, not an error; below 0 is
    for column in ["target_value", "actual_to_date", "completion_ratio"]:
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    return suite
