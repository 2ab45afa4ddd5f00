"""Reading one cell of an uploaded spreadsheet as what a person meant: text, a number, a
month, a date, a share, a region.

Real uploads write the same value many ways (sources.md): full-width digits, thousands
separators, `2020年8月` or `2020/8` or an Excel date for a month, `95%`, `0.95` or `95` for a
share, a county's code or its name. Each parser here accepts exactly the forms the contract
names and raises `BadValue` (with the kind of problem, never the cell's text) for anything
else, so a typo is quarantined instead of being read as something it is not.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta

from extract import reference

EXCEL_EPOCH = date(1899, 12, 30)


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
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise BadValue("not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = norm_text(value).replace(",", "").replace(" ", "")
        try:
            number = float(text)
        except ValueError as exc:
            raise BadValue("not a number") from exc
    if integer:
        if not number.is_integer():
            raise BadValue("not a whole number")
        return int(number)
    return number


def parse_month(value) -> date:
    """2020-08, 2020年8月, 2020/8, 2020-08-01, an Excel date or an Excel serial day number."""
    if isinstance(value, datetime):
        return date(value.year, value.month, 1)
    if isinstance(value, date):
        return date(value.year, value.month, 1)
    if isinstance(value, int | float) and 20000 < value < 80000:
        d = EXCEL_EPOCH + timedelta(days=int(value))
        return date(d.year, d.month, 1)
    text = norm_text(value)
    m = re.fullmatch(r"(\d{4})\s*(?:[-/.年])\s*(\d{1,2})\s*(?:月|[-/.]\s*\d{1,2}\s*日?)?(?:\s+00:00(?::00)?)?", text)
    if m and 1 <= int(m.group(2)) <= 12:
        return date(int(m.group(1)), int(m.group(2)), 1)
    if re.fullmatch(r"\d{5}(\.0+)?", text):
        return parse_month(float(text))
    raise BadValue("not a month")


def parse_date(value) -> date:
    """2020-08-15, 2020/8/15, 2020年8月15日, 20200815, an Excel date or serial day number."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and 20000 < value < 80000:
        return EXCEL_EPOCH + timedelta(days=int(value))
    text = norm_text(value)
    m = re.fullmatch(
        r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+00:00(?::00)?)?", text
    ) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            raise BadValue("not a date") from exc
    if re.fullmatch(r"\d{5}(\.0+)?", text):
        return parse_date(float(text))
    raise BadValue("not a date")


def parse_ratio(value) -> float | None:
    """95%, 0.95 or 95 → 0.95."""
    if value is None or norm_text(value) == "":
        return None
    text = norm_text(value)
    percent = text.endswith("%")
    number = parse_number(text.rstrip("%"), integer=False) if isinstance(value, str) else float(value)
    if number is None:
        return None
    if percent or number > 1:
        number = number / 100
    if not 0 <= number <= 1:
        raise BadValue("not a share between 0 and 100 %")
    return round(number, 6)


def parse_region(value, *, counties_only: bool) -> str:
    text = norm_text(value)
    if re.fullmatch(r"\d{6}", text):
        valid = reference.county_codes() if counties_only else reference.region_codes()
        if text in valid:
            return text
        raise BadValue("unknown region code")
    names = reference.county_names()
    if text in names:
        return names[text]
    # "咸宁市咸安区": a prefecture name in front of a county name
    matches = {code for name, code in names.items() if text.endswith(name) and len(name) >= 2}
    if len(matches) == 1:
        return matches.pop()
    raise BadValue("unknown county")
