"""Reading one cell of an uploaded spreadsheet as what a person meant: text, a number, a
month, a date, a share, a region.

Real uploads write the same value many ways (sources.md): full-width digits, thousands
separators, `2020年8月` or `2020/8` or an Excel date for a month, `95%`, `0.95` or `95` for a
share, a county's code or its name. Each parser here accepts exactly the forms the contract
names and raises `BadValue` (with the kind of problem, never the cell's text) for anything
else, so a typo is quarantined instead of being read as something it is not:

- a number is digits, optionally grouped in thousands by commas (`1,234`, `12,345,678`; not
  `1,2,3`, `12,34` or `1,,234`), with an optional sign and decimal part; full-width forms
  (`１，２３４`) are the same number; `1e3`, `nan`, `inf`, `1_000` are not numbers;
- a month is `2020-08`, `2020年8月`, `2020/8`, or a full date of that month (`2020-08-01`,
  `2020/8/1`, `2020年8月1日`, an Excel date or serial day number) whose day is a real day
  of that month — `2020-08-45` is not a month;
- a date is a real calendar date in one of those layouts (or `20200815`);
- a share is `95%` (exactly one `%`), `0.95` or `95`, between 0 and 100 %;
- a region is a 6-digit code of the reference or a county's name, optionally preceded by
  the province's and/or its own prefecture's name (`咸宁市嘉鱼县`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal

from extract import reference

EXCEL_EPOCH = date(1899, 12, 30)
# Excel serial day numbers the parsers take for a date: 1954-10-03 .. 2119-01-10
SERIAL_RANGE = (20000, 80000)
PROVINCE_NAME = "湖北省"

# digits, grouped in thousands by commas or not grouped at all; a sign; a decimal part
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
# year, month and an optional day, each layout with its own separators; a full date may
# carry a midnight time (how a date cell looks once a program has written it as text)
_MIDNIGHT = r"(?:\s+00:00(?::00)?)?"
_CALENDAR = (
    re.compile(r"(\d{4})\s*-\s*(\d{1,2})(?:\s*-\s*(\d{1,2})" + _MIDNIGHT + ")?"),
    re.compile(r"(\d{4})\s*/\s*(\d{1,2})(?:\s*/\s*(\d{1,2})" + _MIDNIGHT + ")?"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日" + _MIDNIGHT + ")?"),
)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL_TEXT = re.compile(r"\d{5}(?:\.0+)?")


def norm_text(value) -> str:
    """Cell text as a person means it: NFKC (full-width → ASCII), trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def norm_header(value) -> str:
    return re.sub(r"[\s*＊:：]+", "", norm_text(value))


class BadValue(ValueError):
    pass


def parse_number(value, *, integer: bool) -> float | int | None:
    """A number cell, or digits typed as text (full-width, thousands grouped by commas)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise BadValue("not a number")
    if isinstance(value, int):
        return value if integer else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue("not a number")
        if integer and not value.is_integer():
            raise BadValue("not a whole number")
        return int(value) if integer else value
    text = norm_text(value)
    if not _NUMBER.fullmatch(text):
        raise BadValue("not a number")
    number = Decimal(text.replace(",", ""))
    if integer:
        if number != number.to_integral_value():
            raise BadValue("not a whole number")
        return int(number)
    if not math.isfinite(as_float := float(number)):
        raise BadValue("not a number")
    return as_float


def _serial_day(value) -> date | None:
    """The date of an Excel serial day number (a number cell or its digits as text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _SERIAL_TEXT.fullmatch(norm_text(value)):
        value = float(norm_text(value))
    if isinstance(value, int | float) and SERIAL_RANGE[0] < value < SERIAL_RANGE[1]:
        return EXCEL_EPOCH + timedelta(days=int(value))
    return None


def _calendar(text: str) -> tuple[int, int, int | None] | None:
    """(year, month, day or None) of a month or date written in one of the layouts."""
    for layout in _CALENDAR:
        if m := layout.fullmatch(text):
            return int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None
    return None


def parse_month(value) -> date:
    """2020-08, 2020年8月, 2020/8, a real date of that month (2020-08-01, 2020/8/1,
    2020年8月1日), an Excel date or an Excel serial day number → the month's first day."""
    if isinstance(value, date):  # a datetime is a date too
        return date(value.year, value.month, 1)
    if (day := _serial_day(value)) is not None:
        return day.replace(day=1)
    found = _calendar(norm_text(value))
    if found is None:
        raise BadValue("not a month")
    year, month, day = found
    try:
        date(year, month, 1 if day is None else day)  # the month exists, and the day if one is written
    except ValueError as exc:
        raise BadValue("not a month") from exc
    return date(year, month, 1)


def parse_date(value) -> date:
    """2020-08-15, 2020/8/15, 2020年8月15日, 20200815, an Excel date or serial day number;
    a real calendar date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if (day := _serial_day(value)) is not None:
        return day
    text = norm_text(value)
    found = _calendar(text)
    if found is None and (m := _COMPACT_DATE.fullmatch(text)):
        found = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if found is None or found[2] is None:
        raise BadValue("not a date")
    try:
        return date(*found)
    except ValueError as exc:
        raise BadValue("not a date") from exc


def parse_ratio(value) -> float | None:
    """95%, 0.95 or 95 → 0.95: a number above 1 (or written with `%`) is a percentage.
    (`1` is a share of 1, i.e. 100 %: a working rate of 1 % is not what anyone writes.)"""
    if value is None or norm_text(value) == "":
        return None
    if isinstance(value, bool):
        raise BadValue("not a share between 0 and 100 %")
    if isinstance(value, int | float):
        number, percent = float(value), False
    else:
        text = norm_text(value)
        percent = text.endswith("%")
        digits = text[:-1].rstrip() if percent else text
        try:
            number = parse_number(digits, integer=False) if "%" not in digits else None
        except BadValue:
            number = None
        if number is None:
            raise BadValue("not a share between 0 and 100 %")
    if percent or number > 1:
        number = number / 100
    if not 0 <= number <= 1:  # also refuses nan
        raise BadValue("not a share between 0 and 100 %")
    return round(number, 6)


def parse_region(value, *, counties_only: bool) -> str:
    """A 6-digit code of the reference (a county's, or with `counties_only=False` also a
    prefecture's or the province's), or a county's name: `咸安区`, `咸宁市咸安区`,
    `湖北省咸宁市咸安区` (the prefecture must be the county's own)."""
    text = norm_text(value)
    if re.fullmatch(r"\d{6}", text):
        valid = reference.county_codes() if counties_only else reference.region_codes()
        if text in valid:
            return text
        raise BadValue("unknown region code")
    code = _county_named(text)
    if code is None:
        raise BadValue("unknown county")
    return code


def _county_named(text: str) -> str | None:
    """The code of the county `text` names: its name, optionally after the province's name
    and/or its own prefecture's name (spaces allowed between the parts)."""
    rest = text.removeprefix(PROVINCE_NAME).lstrip()
    names = reference.county_names()
    if rest in names:
        return names[rest]
    for d in reference.divisions():
        prefecture, name = d["prefecture_name"], d["county_name"]
        if prefecture != name and rest.startswith(prefecture) and rest[len(prefecture) :].lstrip() == name:
            return d["county_code"]
    return None
