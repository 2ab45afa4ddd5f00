"""Properties of the cell parsers (`extract.cells`) against sources.md, with Hypothesis.

Each parser is driven two ways: with the forms the contract names, generated from a value
(and the parsed value must be that value), and with near misses of those forms — a day of
45, commas that do not group thousands, `95%%`, a county under the wrong prefecture — that
must raise `BadValue`, never be read as something the person did not write. A last property
writes report rows the way the simulator's files do (`simulator.drops.report_cells`, every form of
`draw_form`) and reads every cell back."""

from __future__ import annotations

import calendar
import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from extract import cells
from extract.cells import BadValue
from simulator.drops import FIRST_MONTH, LAST_MONTH, Report, report_cells
from simulator.world import counties

# printable ASCII → its full-width form (what an input method in full-width mode types)
FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
EXCEL_EPOCH = date(1899, 12, 30)
COUNTIES = counties()
PROVINCE = "420000"
PREFECTURES = {c.prefecture_code: c.prefecture_name for c in COUNTIES}
COUNTY_CODES = {c.code for c in COUNTIES}


def days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def maybe_full_width(draw, text: str) -> str:
    return text.translate(FULL_WIDTH) if draw(st.booleans()) else text


def padded(draw, text: str) -> str:
    """The text with the blanks people leave around a value (spaces, a full-width space)."""
    pad = st.sampled_from(["", " ", "\u3000", "\t"])
    return draw(pad) + text + draw(pad)


# --------------------------------------------------------------------- numbers ------
def grouped_by_rule(text: str) -> bool:
    """The contract's thousands separators, stated on their own: no commas, or a first group
    of 1–3 digits followed by groups of exactly 3."""
    groups = text.split(",")
    return len(groups) == 1 or (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]))


@st.composite
def written_integers(draw):
    """(text, value): an integer as a person types it — grouped or not, full-width or not."""
    n = draw(st.integers(min_value=-(10**12), max_value=10**12))
    text = f"{n:,}" if draw(st.booleans()) else str(n)
    return padded(draw, maybe_full_width(draw, text)), n


@given(written_integers())
def test_an_integer_written_with_or_without_thousands_separators_reads_as_itself(case):
    # GIVEN an integer written plainly or grouped in thousands, in ASCII or full-width digits
    text, n = case
    # WHEN it is read as a count THEN it is that integer
    assert cells.parse_number(text, integer=True) == n


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False), st.booleans(), st.data())
def test_a_decimal_number_reads_as_itself(d, group, data):
    # GIVEN a decimal with up to three places, written with or without thousands separators
    text = maybe_full_width(data.draw, format(d, ",f" if group else "f"))
    # WHEN it is read as a number THEN it is that number
    assert cells.parse_number(text, integer=False) == float(d)


@st.composite
def commas_anywhere(draw):
    """Digits with commas put anywhere: between digits, doubled, in front, at the end."""
    digits = draw(st.text(alphabet="0123456789", min_size=1, max_size=10))
    out = "," * draw(st.integers(0, 1))
    for i, ch in enumerate(digits):
        out += ch
        if i < len(digits) - 1:
            out += "," * draw(st.sampled_from([0, 0, 1, 1, 2]))
    out += "," * draw(st.integers(0, 1))
    return draw(st.sampled_from(["", "-"])) + out, digits


@given(commas_anywhere(), st.data())
def test_commas_are_read_only_where_they_group_thousands(case, data):
    # GIVEN digits with commas in any places (`1,234` but also `1,2,3`, `12,34`, `1,,234`)
    text, digits = case
    written = maybe_full_width(data.draw, text)
    if grouped_by_rule(text.removeprefix("-")):
        # THEN where the commas group thousands (or there are none) the value is the digits'
        sign = -1 if text.startswith("-") else 1
        assert cells.parse_number(written, integer=True) == sign * int(digits)
    else:
        # THEN anywhere else the cell is not a number
        with pytest.raises(BadValue, match="not a number"):
            cells.parse_number(written, integer=True)


NOT_NUMBERS = [
    "1e3", "1E3", "nan", "NaN", "inf", "-inf", "Infinity", "1_000", "--5", "5-", "+-5", "1.2.3",
    "1,234.5.6", ".5", "5.", "0x10", "1 234", "12 345", "五", "1,234,", ",123", "1.234,5", "１e３",
    "12%", "1/2", "3-4", "约100", "100人",
]  # fmt: skip


@given(st.sampled_from(NOT_NUMBERS), st.booleans())
def test_text_that_is_not_digits_in_the_contracts_form_is_not_a_number(text, integer):
    # GIVEN an exponent, nan/inf, an underscore, a stray sign or point, a unit, a word
    # WHEN it is read as a number THEN it is refused
    with pytest.raises(BadValue, match="not a number"):
        cells.parse_number(text, integer=integer)


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**15), 10**15), st.booleans()))
def test_a_number_cell_reads_as_its_value_and_nan_infinity_and_booleans_are_refused(value):
    # GIVEN a cell that already holds a number (an xlsx number cell), a bool, nan or infinity
    if isinstance(value, bool) or not math.isfinite(value):
        # THEN a bool, nan or infinity is refused
        with pytest.raises(BadValue):
            cells.parse_number(value, integer=False)
    else:
        # THEN a finite number is its value, and a count only when it is whole
        assert cells.parse_number(value, integer=False) == value
        if float(value).is_integer():
            assert cells.parse_number(value, integer=True) == value
        else:
            with pytest.raises(BadValue, match="not a whole number"):
                cells.parse_number(value, integer=True)


# ---------------------------------------------------------------- months, dates ------
@st.composite
def real_days(draw, first=date(1990, 1, 1), last=date(2100, 12, 31)):
    return draw(st.dates(min_value=first, max_value=last))


def two_digits_or_not(draw, n: int) -> str:
    return f"{n:02d}" if draw(st.booleans()) else str(n)


@st.composite
def written_months(draw):
    """(text or cell, the month's first day): every form of 报告月份 in sources.md."""
    d = draw(real_days())
    first = d.replace(day=1)
    style = draw(st.sampled_from(["iso", "zh", "slash", "iso-day", "slash-day", "zh-day", "excel", "serial"]))
    m, day = two_digits_or_not(draw, d.month), two_digits_or_not(draw, d.day)
    midnight = draw(st.sampled_from(["", " 00:00", " 00:00:00"]))
    if style == "excel":
        return draw(st.sampled_from([datetime(d.year, d.month, d.day), d])), first
    if style == "serial":
        serial = (d - EXCEL_EPOCH).days  # 1990–2100: inside the serial numbers taken for dates
        return draw(st.sampled_from([serial, float(serial), str(serial), f"{serial}.0"])), first
    text = {
        "iso": f"{d.year}-{m}",
        "zh": f"{d.year}年{m}月",
        "slash": f"{d.year}/{m}",
        "iso-day": f"{d.year}-{m}-{day}{midnight}",
        "slash-day": f"{d.year}/{m}/{day}{midnight}",
        "zh-day": f"{d.year}年{m}月{day}日{midnight}",
    }[style]
    return padded(draw, maybe_full_width(draw, text)), first


@given(written_months())
def test_every_form_of_the_report_month_reads_as_that_month(case):
    # GIVEN a month written as 2020-08, 2020年8月, 2020/8, a real date of it, or an Excel date
    cell, first_day = case
    # WHEN it is read as the report month THEN it is that month
    assert cells.parse_month(cell) == first_day


@st.composite
def near_miss_months(draw):
    """A month form with one thing wrong: no such month, no such day, mixed or unknown
    separators, a Chinese form cut short, a time of day, a serial day outside Excel's dates."""
    y, m = draw(st.integers(1990, 2100)), draw(st.integers(1, 12))
    kind = draw(st.sampled_from(["month", "day", "mixed", "dots", "zh-cut", "double", "time", "junk", "serial"]))
    if kind == "month":
        bad = draw(st.one_of(st.just(0), st.just(13), st.integers(14, 99)))  # the edges first
        return draw(st.sampled_from([f"{y}-{bad:02d}", f"{y}年{bad}月", f"{y}/{bad}", f"{y}-{bad:02d}-01"]))
    if kind == "day":
        bad = draw(st.one_of(st.just(0), st.just(days_in(y, m) + 1), st.integers(days_in(y, m) + 2, 99)))
        return draw(st.sampled_from([f"{y}-{m:02d}-{bad:02d}", f"{y}/{m}/{bad}", f"{y}年{m}月{bad}日"]))
    if kind == "mixed":
        a, b = draw(st.permutations(["-", "/", "年"]).map(lambda p: p[:2]))
        return f"{y}{a}{m}{b}1"
    if kind == "dots":
        return draw(st.sampled_from([f"{y}.{m}", f"{y}.{m}.1"]))
    if kind == "zh-cut":
        return draw(st.sampled_from([f"{y}年{m}", f"{y}年{m}月1", f"{y}-{m}月", f"{y}年-{m}"]))
    if kind == "double":
        return draw(st.sampled_from([f"{y}--{m}", f"{y}//{m}", f"{y}年年{m}月", f"{y}-{m}-"]))
    if kind == "time":
        return f"{y}-{m:02d}-01 {draw(st.integers(1, 23)):02d}:00"
    if kind == "junk":
        return draw(st.sampled_from([f"{y}{m:02d}", f"{m}/{y}", f"{y % 100}-{m}", f"{y}-{m}x", f"第{m}月", "八月"]))
    return draw(st.sampled_from([10000, 19999, 80001, 99999, "10000", "99999"]))


@given(near_miss_months())
def test_a_near_miss_of_a_month_form_is_not_a_month(text):
    # GIVEN a month written almost as the contract says, with one thing wrong
    # WHEN it is read as the report month THEN it is refused, not read as some other month
    with pytest.raises(BadValue, match="not a month"):
        cells.parse_month(text)


@st.composite
def written_dates(draw):
    """(text or cell, date): a real date in every layout the date parser takes."""
    d = draw(real_days())
    m, day = two_digits_or_not(draw, d.month), two_digits_or_not(draw, d.day)
    style = draw(st.sampled_from(["iso", "slash", "zh", "compact", "excel", "serial"]))
    if style == "excel":
        return draw(st.sampled_from([datetime(d.year, d.month, d.day), d])), d
    if style == "serial":
        serial = (d - EXCEL_EPOCH).days
        return draw(st.sampled_from([serial, float(serial), str(serial)])), d
    text = {
        "iso": f"{d.year}-{m}-{day}",
        "slash": f"{d.year}/{m}/{day}",
        "zh": f"{d.year}年{m}月{day}日",
        "compact": f"{d:%Y%m%d}",
    }[style]
    return padded(draw, maybe_full_width(draw, text)), d


@given(written_dates())
def test_a_real_date_in_every_layout_reads_as_itself(case):
    # GIVEN a real date written as 2020-08-15, 2020/8/15, 2020年8月15日, 20200815 or an Excel date
    cell, d = case
    # WHEN it is read as a date THEN it is that date
    assert cells.parse_date(cell) == d


@st.composite
def impossible_dates(draw):
    """A date layout holding a day the calendar does not have, or no day at all."""
    y, m = draw(st.integers(1990, 2100)), draw(st.integers(1, 12))
    bad_day = draw(st.one_of(st.just(0), st.just(days_in(y, m) + 1), st.integers(days_in(y, m) + 2, 99)))
    bad_month = draw(st.one_of(st.just(0), st.just(13), st.integers(14, 99)))
    return draw(
        st.sampled_from(
            [
                f"{y}-{m:02d}-{bad_day:02d}",
                f"{y}/{m}/{bad_day}",
                f"{y}年{m}月{bad_day}日",
                f"{y}{m:02d}{bad_day:02d}",
                f"{y}-{bad_month:02d}-01",
                f"{y}-{m:02d}",  # a month is not a date
                f"{y}年{m}月",
                f"{y}-{m}/1",
                f"{y}.{m}.1",
            ]
        )
    )


@given(impossible_dates())
def test_a_day_the_calendar_does_not_have_is_not_a_date(text):
    # GIVEN a date layout with the 0th, 30th of February, 45th … day, a 13th month, or no day
    # WHEN it is read as a date THEN it is refused
    with pytest.raises(BadValue, match="not a date"):
        cells.parse_date(text)


# ----------------------------------------------------------------------- shares ------
@st.composite
def written_shares(draw):
    """(cell, share): 设备完好率 as `95%`, `0.95` or `95` (text or a number cell)."""
    style = draw(st.sampled_from(["percent", "fraction", "number"]))
    if style == "percent":
        tenths = draw(st.integers(0, 1000))  # 0.0 % … 100.0 %
        space = draw(st.sampled_from(["", " "]))
        text = f"{Decimal(tenths) / 10}{space}%"
        return padded(draw, maybe_full_width(draw, text)), tenths / 1000
    if style == "fraction":
        hundredths = draw(st.integers(0, 100))
        share = Decimal(hundredths) / 100
        return draw(st.sampled_from([str(share), float(share)])), hundredths / 100
    # a whole percentage without `%`; 1 is left out: `1` reads as a share of 1 (100 %)
    n = draw(st.integers(2, 100))
    return draw(st.sampled_from([str(n), n, float(n)])), n / 100


@given(written_shares())
def test_every_form_of_the_equipment_ratio_reads_as_that_share(case):
    # GIVEN a share written as 95%, 0.95 or 95
    cell, share = case
    # WHEN it is read as the equipment ratio THEN it is that share
    assert cells.parse_ratio(cell) == pytest.approx(share, abs=1e-9)


@st.composite
def near_miss_shares(draw):
    """A share with its `%` doubled, leading or inside; or a value beyond 0–100 %."""
    k = str(draw(st.integers(0, 100)))
    cut = draw(st.integers(0, len(k)))
    over = draw(st.integers(101, 10**6))
    return draw(
        st.sampled_from(
            [
                f"{k}%%",
                f"{k}%%%",
                f"%{k}",
                f"%{k}%",
                f"{k[:cut]}%{k[cut:]}%",
                f"{k} % %",
                "%",
                f"{over}%",
                str(over),
                f"-{k}%" if k != "0" else "-1%",
                f"-0.{k}" if k != "0" else "-1",
                f"{k}‰",
                f"{k}percent",
                f"{k}/100",
            ]
        )
    )


@given(near_miss_shares(), st.data())
def test_a_share_with_a_stray_percent_sign_or_beyond_100_percent_is_refused(text, data):
    # GIVEN a share written with two `%`, a `%` in front or inside, or above 100 % / below 0
    written = maybe_full_width(data.draw, text)
    # WHEN it is read as the equipment ratio THEN it is refused
    with pytest.raises(BadValue, match="not a share"):
        cells.parse_ratio(written)


# ---------------------------------------------------------------------- regions ------
@st.composite
def written_counties(draw):
    """(cell, code): a county as its code (text, number cell, full-width) or its name,
    optionally after the province's name and/or its own prefecture's name."""
    c = draw(st.sampled_from(COUNTIES))
    if draw(st.booleans()):
        cell = draw(st.sampled_from([c.code, int(c.code), float(c.code), c.code.translate(FULL_WIDTH)]))
        return cell, c.code
    parts = [c.name]
    if c.prefecture_name != c.name and draw(st.booleans()):
        parts.insert(0, c.prefecture_name)
    if draw(st.booleans()):
        parts.insert(0, "湖北省")
    return padded(draw, draw(st.sampled_from(["", " "])).join(parts)), c.code


@given(written_counties(), st.booleans())
def test_a_county_written_as_its_code_or_its_name_reads_as_its_code(case, counties_only):
    # GIVEN a county written as its 6-digit code or its name (with its own prefecture in front)
    cell, code = case
    # WHEN it is read as a region THEN it is the county's code
    assert cells.parse_region(cell, counties_only=counties_only) == code


@given(st.sampled_from(sorted({PROVINCE, *PREFECTURES})))
def test_a_prefecture_or_the_province_is_a_region_but_not_a_county(code):
    # GIVEN the code of a prefecture or of the province
    # WHEN it is read where any region may stand THEN it is that code
    assert cells.parse_region(code, counties_only=False) == code
    # AND where only a county may stand it is refused (unless the prefecture is its own county)
    if code in COUNTY_CODES:
        assert cells.parse_region(code, counties_only=True) == code
    else:
        with pytest.raises(BadValue, match="unknown region code"):
            cells.parse_region(code, counties_only=True)


def all_written_names() -> set[str]:
    out = set()
    for c in COUNTIES:
        for lead in ("", "湖北省"):
            for pref in ("", c.prefecture_name) if c.prefecture_name != c.name else ("",):
                out.add(lead + pref + c.name)
    return out


WRITTEN_NAMES = all_written_names()


@st.composite
def near_miss_regions(draw):
    """A code the reference does not hold, or a county's name with something wrong: a
    character added, cut or changed, under another prefecture, in the wrong order."""
    c = draw(st.sampled_from(COUNTIES))
    kind = draw(st.sampled_from(["code", "added", "cut", "other-prefecture", "reversed", "short-code"]))
    if kind == "code":
        code = str(draw(st.integers(100000, 999999)))
        assume(code not in COUNTY_CODES and code not in PREFECTURES and code != PROVINCE)
        return code, "unknown region code"
    if kind == "short-code":
        return draw(st.sampled_from([c.code[:5], c.code + "0", c.code[:3] + " " + c.code[3:]])), "unknown county"
    if kind == "added":
        extra = draw(st.sampled_from("新东西南北大小老市县区州"))
        text = draw(st.sampled_from([extra + c.name, c.name + extra, c.name[:1] + extra + c.name[1:]]))
    elif kind == "cut":
        i = draw(st.integers(0, len(c.name) - 1))
        text = c.name[:i] + c.name[i + 1 :]
    elif kind == "other-prefecture":
        other = draw(st.sampled_from(sorted(set(PREFECTURES.values()) - {c.prefecture_name})))
        text = other + c.name
    else:
        text = c.name + c.prefecture_name
    assume(text not in WRITTEN_NAMES)
    return text, "unknown county"


@given(near_miss_regions())
def test_a_region_that_is_not_a_reference_code_or_a_county_name_is_refused(case):
    # GIVEN a 6-digit code outside the reference, or a county name with something wrong
    text, reason = case
    # WHEN it is read as a region THEN it is refused with the kind of problem
    with pytest.raises(BadValue, match=reason):
        cells.parse_region(text, counties_only=False)


# ------------------------------------------------------------------------- text ------
# What cells hold: ASCII, full-width forms, CJK, blanks of every kind, compatibility
# characters NFKC rewrites (ligatures, circled digits, ㍻, Ⅻ, ½), combining marks and jamo.
CELL_ALPHABET = (
    "".join(map(chr, range(0x20, 0x7F)))
    + "".join(map(chr, range(0xFF01, 0xFF5F)))
    + "年月日合计咸安区县市省湖北武汉中学科技馆。、，：；（）【】《》"
    + "\u3000\u00a0\u2002\u200b\t\n\r\x0b\x0c\x1c\x85\u2028"
    + "ﬁ①⑳㈱㍻Ⅻ½™ｶﾞﾟ\u0301\u0308\u3099\u1100\u1161\u11a8가"
)
ASCII_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))


@given(st.text(alphabet=CELL_ALPHABET, max_size=30))
def test_normalised_text_is_a_fixed_point(text):
    # GIVEN any cell text WHEN it is normalised twice THEN the second time changes nothing
    once = cells.norm_text(text)
    assert cells.norm_text(once) == once
    # AND it carries no blank at either end
    assert once == once.strip()


@given(st.text(alphabet=ASCII_PRINTABLE, max_size=30), st.data())
def test_full_width_text_normalises_to_its_ascii_form(text, data):
    # GIVEN ASCII text typed in full width, with blanks around it
    written = padded(data.draw, text.translate(FULL_WIDTH))
    # WHEN it is normalised THEN it is the ASCII text
    assert cells.norm_text(written) == text


# ------------------------------------------------------- the simulator's own forms ------
def months_between(first: date, last: date) -> list[date]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = (m + timedelta(days=32)).replace(day=1)
    return out


@st.composite
def simulated_rows(draw):
    """(report, form): a report and a file form as `simulator.drops.reports.draw_form` draws them."""
    fmt = draw(st.sampled_from(["xlsx", "csv-utf8", "csv-bom", "csv-gbk"]))
    form = {
        "fmt": fmt,
        "fullwidth": draw(st.booleans()),
        "thousands": draw(st.booleans()),
        "county_as_name": draw(st.booleans()),
        "month_style": draw(
            st.sampled_from(["iso", "zh", "slash", "excel"] if fmt == "xlsx" else ["iso", "zh", "slash"])
        ),
        "pct_style": draw(st.sampled_from(["percent", "fraction", "number"])),
        "personal": draw(st.booleans()),
    }
    county = draw(st.sampled_from(COUNTIES))
    visits = st.integers(0, 2_000_000)
    report = Report(
        centre_id=f"RC{draw(st.integers(0, 9999)):04d}",
        school_name="实验中学",
        county_code=county.code,
        month=draw(st.sampled_from(months_between(FIRST_MONTH, LAST_MONTH))),
        days_open=draw(st.integers(0, 31)),
        student_visits=draw(visits),
        public_visits=draw(visits),
        activities=draw(st.integers(0, 5000)),
        equipment=draw(st.integers(2, 100)) / 100,  # 0.01 would be written `1`: a share of 1
    )
    return report, form


@given(simulated_rows())
def test_every_cell_the_simulator_writes_reads_back_as_the_simulators_value(case):
    # GIVEN a report row written in one of the simulator's forms
    report, form = case
    row = report_cells(report, form)
    # WHEN its cells are read with the parsers of the report's columns
    got = (
        cells.parse_region(row[2], counties_only=True),
        cells.parse_month(row[3]),
        *(cells.parse_number(v, integer=True) for v in row[4:8]),
        cells.parse_ratio(row[8]),
    )
    # THEN every value is the simulator's
    want = (
        report.county_code,
        report.month,
        report.days_open,
        report.student_visits,
        report.public_visits,
        report.activities,
        pytest.approx(report.equipment, abs=1e-9),
    )
    assert got == want
